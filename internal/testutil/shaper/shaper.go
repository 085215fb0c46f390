// Package shaper is a TCP proxy that makes a loopback connection look like a
// far link: every chunk of bytes is held for a one-way delay in each
// direction, a new connection waits one round trip before its first byte goes
// through (TCP's handshake), and each connection's throughput is capped in
// each direction by a token bucket. It forwards bytes, not HTTP, so TLS runs
// end to end between the client and the server behind it and its handshakes
// pay the round trips they would on the link. Benchmarks put it in front of a
// real registry and read its counters afterwards: how many connections a tool
// opened tells whether it reuses idle ones.
package shaper

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// chunkSize is the most bytes read, delayed and written as one chunk; it is
// also the token bucket's burst.
const chunkSize = 32 << 10

// minBuffer is the smallest default Buffer.
const minBuffer = 1 << 20

// dialTimeout bounds the connection to the backend (on loopback).
const dialTimeout = 10 * time.Second

// Options describe the link. The zero value forwards bytes unchanged.
type Options struct {
	// Delay is added one way, to every chunk in each direction: a request and
	// its answer take 2×Delay longer, and a new connection's first request
	// 4×Delay (one round trip for TCP's handshake, one for the request).
	Delay time.Duration
	// Rate caps each connection's throughput in each direction, in bytes per
	// second (see Mbit); 0 means no cap.
	Rate int64
	// Buffer bounds the bytes each connection holds in each direction, read
	// from one side and not yet written to the other. Beyond it the proxy
	// stops reading and the sender's TCP window closes. 0 means twice what
	// the link holds in flight (2×Rate×Delay), and at least 1 MiB, so that
	// the buffer never caps throughput below Rate.
	Buffer int
}

// Mbit is n megabits per second in bytes per second, for Options.Rate.
func Mbit(n float64) int64 { return int64(n * 1e6 / 8) }

func (o Options) withDefaults() Options {
	if o.Buffer <= 0 {
		inFlight := float64(o.Rate) * o.Delay.Seconds()
		o.Buffer = max(minBuffer, int(2*inFlight))
	}
	return o
}

// String describes the link, as "25ms each way, 100 Mbit/s per connection".
func (o Options) String() string {
	rate := "no cap"
	if o.Rate > 0 {
		rate = fmt.Sprintf("%g Mbit/s per connection each way", float64(o.Rate)*8/1e6)
	}
	return fmt.Sprintf("%s each way, %s", o.Delay, rate)
}

// Stats counts what the proxy carried.
type Stats struct {
	// Conns counts the connections accepted: each one is a TCP handshake, and
	// a TLS handshake when TLS runs over it.
	Conns int
	// Active counts the connections open now; MaxActive the most open at
	// once of those accepted since the start or the last ResetStats.
	Active, MaxActive int
	// Up counts the bytes written to the backend (from clients), Down the
	// bytes written to clients (from the backend), TLS records and all.
	Up, Down int64
	// DialErrors counts connections closed because the backend refused them.
	DialErrors int
	// Log lists the connections accepted, in that order.
	Log []Conn
}

// Conn is one connection the proxy accepted.
type Conn struct {
	Opened time.Time
	// Up and Down count the bytes carried so far each way.
	Up, Down int64
}

// connLog counts the bytes of one connection.
type connLog struct {
	opened   time.Time
	up, down atomic.Int64
}

// Proxy is a running shaper.
type Proxy struct {
	// Host is 127.0.0.1:PORT of the proxy. A TLS server behind it is reached
	// under this address, so its certificate must be valid for the IP.
	Host string

	backend string
	opts    Options
	ln      net.Listener
	// closing is closed by Close: pending delays end at once.
	closing chan struct{}
	wg      sync.WaitGroup
	up      atomic.Int64
	down    atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	stats Stats
	// gen counts the ResetStats; fresh counts the open connections accepted
	// since the last one, and log lists them all.
	gen, fresh int
	log        []*connLog
}

// New starts a proxy on a free loopback port in front of backend
// (HOST:PORT). Close stops it.
func New(backend string, opts Options) (*Proxy, error) {
	if opts.Delay < 0 || opts.Rate < 0 {
		return nil, fmt.Errorf("shaper: negative delay %s or rate %d", opts.Delay, opts.Rate)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("shaper: %w", err)
	}
	p := &Proxy{
		Host:    ln.Addr().String(),
		backend: backend,
		opts:    opts.withDefaults(),
		ln:      ln,
		closing: make(chan struct{}),
		conns:   map[net.Conn]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Start starts a proxy for the test and stops it when the test ends.
func Start(t testing.TB, backend string, opts Options) *Proxy {
	t.Helper()
	p, err := New(backend, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Options are the link's parameters, defaults filled in.
func (p *Proxy) Options() Options { return p.opts }

// Stats returns the counters since the start or the last ResetStats.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Up, s.Down = p.up.Load(), p.down.Load()
	s.Log = make([]Conn, len(p.log))
	for i, c := range p.log {
		s.Log[i] = Conn{Opened: c.opened, Up: c.up.Load(), Down: c.down.Load()}
	}
	return s
}

// ResetStats starts the counters afresh. Connections still open count in
// Active, not in MaxActive: a tool that just exited leaves some closing.
func (p *Proxy) ResetStats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = Stats{Active: p.stats.Active}
	p.gen++
	p.fresh = 0
	p.log = nil
	p.up.Store(0)
	p.down.Store(0)
}

// Close stops accepting, closes every connection (without waiting for the
// delays of the bytes in flight) and waits until all is done.
func (p *Proxy) Close() {
	p.mu.Lock()
	select {
	case <-p.closing:
	default:
		close(p.closing)
		p.ln.Close()
		for c := range p.conns {
			c.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		accepted := time.Now()
		if !p.track(c) {
			c.Close()
			return
		}
		log := &connLog{opened: accepted}
		p.mu.Lock()
		gen := p.gen
		p.log = append(p.log, log)
		p.stats.Conns++
		p.stats.Active++
		p.fresh++
		p.stats.MaxActive = max(p.stats.MaxActive, p.fresh)
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c, log)
			p.mu.Lock()
			p.stats.Active--
			if gen == p.gen {
				p.fresh--
			}
			p.mu.Unlock()
		}()
	}
}

// track registers c to be closed by Close; false when the proxy is closing.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closing:
		return false
	default:
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// serve forwards one client connection to a new backend connection until
// both directions are done, then closes both.
func (p *Proxy) serve(client net.Conn, log *connLog) {
	defer p.untrack(client)
	defer client.Close()
	backend, err := net.DialTimeout("tcp", p.backend, dialTimeout)
	if err != nil {
		p.mu.Lock()
		p.stats.DialErrors++
		p.mu.Unlock()
		return
	}
	defer backend.Close()
	if !p.track(backend) {
		return
	}
	defer p.untrack(backend)

	// The client's first bytes leave once TCP's handshake would have
	// finished, a round trip after it connected; the server's may leave at once.
	up := newPipe(client, backend, p.opts, log.opened.Add(2*p.opts.Delay), p.closing, &p.up, &log.up)
	down := newPipe(backend, client, p.opts, log.opened, p.closing, &p.down, &log.down)
	var wg sync.WaitGroup
	for _, pp := range []*pipe{up, down} {
		wg.Add(2)
		go func() { defer wg.Done(); pp.read() }()
		go func() { defer wg.Done(); pp.write() }()
	}
	wg.Wait()
}

// pipe carries one direction of a connection: read copies bytes from src into
// a bounded queue of chunks, each stamped with the time it may be written, and
// write writes them to dst at those times.
type pipe struct {
	src, dst net.Conn
	delay    time.Duration
	rate     float64
	// notBefore is the earliest time a chunk may leave.
	notBefore time.Time
	queue     chan chunk
	// stop is closed by write when it gives up, so that read stops too.
	stop    chan struct{}
	closing <-chan struct{}
	// counts add up the bytes written.
	counts []*atomic.Int64
}

// chunk is a piece of the stream, or its end when err is set: io.EOF for a
// half-close, any other error for an abort.
type chunk struct {
	buf *[]byte
	n   int
	at  time.Time
	err error
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

func newPipe(src, dst net.Conn, opts Options, notBefore time.Time, closing <-chan struct{}, counts ...*atomic.Int64) *pipe {
	// The queue holds at most Buffer bytes of full chunks; read holds one
	// more chunk and write one.
	return &pipe{
		src: src, dst: dst,
		delay:     opts.Delay,
		rate:      float64(opts.Rate),
		notBefore: notBefore,
		queue:     make(chan chunk, max(1, opts.Buffer/chunkSize)),
		stop:      make(chan struct{}),
		closing:   closing,
		counts:    counts,
	}
}

func (p *pipe) read() {
	defer close(p.queue)
	// tat is the token bucket as a virtual clock (GCRA): the time by which
	// the bytes released so far have been paid for at the rate. A chunk may
	// leave when that is at most one chunk's worth (the burst) ahead of now.
	tat := p.notBefore
	var burst time.Duration
	if p.rate > 0 {
		burst = time.Duration(float64(chunkSize) / p.rate * float64(time.Second))
	}
	release := func(now time.Time, n int) time.Time {
		at := now
		if at.Before(p.notBefore) {
			at = p.notBefore
		}
		if p.rate > 0 && n > 0 {
			if tat.Before(at) {
				tat = at
			}
			tat = tat.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
			if paid := tat.Add(-burst); paid.After(at) {
				at = paid
			}
		}
		return at.Add(p.delay)
	}
	for {
		buf := chunkPool.Get().(*[]byte)
		n, err := p.src.Read(*buf)
		now := time.Now()
		c := chunk{buf: buf, n: n}
		if n == 0 {
			chunkPool.Put(buf)
			c.buf = nil
		}
		if n == 0 && err == nil {
			continue
		}
		if n > 0 {
			c.at = release(now, n)
			if !p.send(c) {
				return
			}
		}
		if err != nil {
			// The end travels the link too: the same delay, after the last bytes.
			p.send(chunk{at: release(now, 0), err: err})
			return
		}
	}
}

func (p *pipe) send(c chunk) bool {
	select {
	case p.queue <- c:
		return true
	case <-p.stop:
		return false
	}
}

func (p *pipe) write() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for c := range p.queue {
		if d := time.Until(c.at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-p.closing:
				p.abort()
				return
			}
		}
		if c.err != nil {
			if errors.Is(c.err, io.EOF) {
				// A half-close: the other direction may go on.
				closeWrite(p.dst)
			} else {
				p.abort()
			}
			return
		}
		// Counted before the write, so that whoever has read the bytes finds
		// them counted; what a failed write did not take is taken back.
		p.add(c.n)
		n, err := p.dst.Write((*c.buf)[:c.n])
		chunkPool.Put(c.buf)
		if err != nil {
			p.add(n - c.n)
			p.abort()
			return
		}
	}
}

func (p *pipe) add(n int) {
	for _, c := range p.counts {
		c.Add(int64(n))
	}
}

// abort ends both sides of the connection: dst with a reset, like the
// failure that ended src, and src so that its read returns.
func (p *pipe) abort() {
	close(p.stop)
	if tc, ok := p.dst.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	p.dst.Close()
	p.src.Close()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	c.Close()
}
