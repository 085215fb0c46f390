package shaper_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/shaper"
)

// These tests time the link only with bounds it cannot beat (a delay is never
// shorter, a cap never faster) and with generous ones the other way, so that
// a loaded machine does not make them fail.

// startEcho runs a loopback server that writes back what it reads and
// half-closes when the client does.
func startEcho(t *testing.T) string {
	t.Helper()
	return startServer(t, func(c net.Conn) {
		_, _ = io.Copy(c, c)
		_ = c.(*net.TCPConn).CloseWrite()
	})
}

// startServer runs serve on every connection to a loopback listener, and
// closes the connection when serve returns.
func startServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, host string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A guard against a hang, not a timing: nothing here takes seconds.
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c.(*net.TCPConn)
}

func TestDelayPerRoundTrip(t *testing.T) {
	t.Parallel()
	const delay = 40 * time.Millisecond
	p := shaper.Start(t, startEcho(t), shaper.Options{Delay: delay})

	start := time.Now()
	c := dial(t, p.Host)
	ping := func() time.Duration {
		t.Helper()
		sent := time.Now()
		if _, err := c.Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		return time.Since(sent)
	}
	ping()
	// The first answer pays TCP's handshake too: two round trips.
	if first := time.Since(start); first < 4*delay || first > 4*delay+5*time.Second {
		t.Errorf("first round trip on a new connection: %s, want at least %s", first, 4*delay)
	}
	for i := range 5 {
		if rtt := ping(); rtt < 2*delay || rtt > 2*delay+5*time.Second {
			t.Errorf("round trip %d: %s, want at least %s", i+2, rtt, 2*delay)
		}
	}
	if s := p.Stats(); s.Conns != 1 || s.Up != 6 || s.Down != 6 || len(s.Log) != 1 || s.Log[0].Up != 6 || s.Log[0].Down != 6 {
		t.Errorf("stats %+v, want 1 connection and 6 bytes each way", s)
	}
	// The connection still open is not counted after a reset, but in Active.
	p.ResetStats()
	if s := p.Stats(); s.Conns != 0 || s.Active != 1 || s.MaxActive != 0 || s.Up != 0 || s.Down != 0 || len(s.Log) != 0 {
		t.Errorf("stats after ResetStats %+v, want only 1 active", s)
	}
}

// echoThrough writes size bytes to the echo server through c while reading
// them back, and returns when all came back, after how long since start.
func echoThrough(t *testing.T, c *net.TCPConn, size int, start time.Time) time.Duration {
	t.Helper()
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(data); errc <- err }()
	got, err := io.ReadAll(io.LimitReader(c, int64(len(data))))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes back, not the %d sent", len(got), len(data))
	}
	return elapsed
}

func TestRateCap(t *testing.T) {
	t.Parallel()
	// 3 MB at 2 MB/s: 1.5 s of transfer.
	const size = 3_000_000
	rate := shaper.Mbit(16)
	p := shaper.Start(t, startEcho(t), shaper.Options{Delay: 5 * time.Millisecond, Rate: rate})

	start := time.Now()
	elapsed := echoThrough(t, dial(t, p.Host), size, start)
	bps := float64(size) / elapsed.Seconds()
	t.Logf("%d bytes there and back in %s: %.2f MB/s, cap %.2f MB/s", size, elapsed, bps/1e6, float64(rate)/1e6)
	// The bucket lets one chunk (32 KiB) through ahead of the rate, no more.
	if least := time.Duration(float64(size-32<<10) / float64(rate) * float64(time.Second)); elapsed < least {
		t.Errorf("took %s, want at least %s: the cap does not hold", elapsed, least)
	}
	if bps < float64(rate)/3 {
		t.Errorf("%.2f MB/s, want near the cap of %.2f MB/s", bps/1e6, float64(rate)/1e6)
	}
	if s := p.Stats(); s.Up != size || s.Down != size {
		t.Errorf("counted %d bytes up and %d down, want %d each", s.Up, s.Down, size)
	}
}

func TestRateCapPerConnection(t *testing.T) {
	t.Parallel()
	// Two connections of 2.5 MB at 2 MB/s each: 1.25 s, not 2.5 s.
	const size, conns = 2_500_000, 2
	rate := shaper.Mbit(16)
	p := shaper.Start(t, startEcho(t), shaper.Options{Rate: rate})

	start := time.Now()
	elapsed := make([]time.Duration, conns)
	var wg sync.WaitGroup
	for i := range conns {
		c := dial(t, p.Host)
		wg.Add(1)
		go func() { defer wg.Done(); elapsed[i] = echoThrough(t, c, size, start) }()
	}
	wg.Wait()
	least := time.Duration(float64(size-32<<10) / float64(rate) * float64(time.Second))
	for i, e := range elapsed {
		if e < least {
			t.Errorf("connection %d took %s, want at least %s", i, e, least)
		}
	}
	total := float64(conns*size) / max(elapsed[0], elapsed[1]).Seconds()
	t.Logf("%d connections: %.2f MB/s in all, cap %.2f MB/s each", conns, total/1e6, float64(rate)/1e6)
	if total < 1.2*float64(rate) {
		t.Errorf("%.2f MB/s in all, want more than one connection's cap (%.2f MB/s)", total/1e6, float64(rate)/1e6)
	}
	if s := p.Stats(); s.Conns != conns || s.MaxActive != conns {
		t.Errorf("stats %+v, want %d connections, all at once", s, conns)
	}
}

func TestClosePropagates(t *testing.T) {
	t.Parallel()
	opts := shaper.Options{Delay: 10 * time.Millisecond, Rate: shaper.Mbit(100)}

	t.Run("client half-closes", func(t *testing.T) {
		t.Parallel()
		p := shaper.Start(t, startEcho(t), opts)
		c := dial(t, p.Host)
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		// The echo server sees the end, answers and closes: so does the client.
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "hello" {
			t.Errorf("read %q, %v; want hello and EOF", got, err)
		}
		waitIdle(t, p)
	})

	t.Run("server closes", func(t *testing.T) {
		t.Parallel()
		p := shaper.Start(t, startServer(t, func(c net.Conn) { _, _ = c.Write([]byte("bye")) }), opts)
		c := dial(t, p.Host)
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "bye" {
			t.Errorf("read %q, %v; want bye and EOF", got, err)
		}
		// The server's end is a half-close, as on TCP: the proxy lets go
		// once the client closes too.
		c.Close()
		waitIdle(t, p)
	})

	t.Run("server refuses", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		refused := ln.Addr().String()
		ln.Close()
		p := shaper.Start(t, refused, opts)
		c := dial(t, p.Host)
		if got, err := io.ReadAll(c); len(got) != 0 || isTimeout(err) {
			t.Errorf("read %q, %v; want the connection closed", got, err)
		}
		waitIdle(t, p)
		if s := p.Stats(); s.DialErrors != 1 {
			t.Errorf("stats %+v, want 1 dial error", s)
		}
	})

	t.Run("proxy closes", func(t *testing.T) {
		t.Parallel()
		// Bytes in flight for a minute must not hold Close up.
		p, err := shaper.New(startEcho(t), shaper.Options{Delay: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, p.Host)
		if _, err := c.Write([]byte("stuck")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		p.Close()
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Close took %s", d)
		}
		if got, err := io.ReadAll(c); len(got) != 0 || isTimeout(err) {
			t.Errorf("read %q, %v; want the connection closed", got, err)
		}
		if s := p.Stats(); s.Active != 0 || s.Up != 0 {
			t.Errorf("stats after Close %+v, want nothing open and nothing delivered", s)
		}
		if _, err := net.DialTimeout("tcp", p.Host, time.Second); err == nil {
			t.Error("the proxy still accepts connections after Close")
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// waitIdle waits until the proxy has closed all its connections: after the
// client saw the end, the proxy's own cleanup may still be running.
func waitIdle(t *testing.T, p *shaper.Proxy) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.Stats().Active != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy still holds connections: %+v", p.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
