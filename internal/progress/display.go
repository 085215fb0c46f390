package progress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/containerd/console"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
)

// display keeps the run's steps as BuildKit's vertexes: one per group (a
// platform, or an image in a batch) with a status per transfer under it, one
// per message, and one for the total. On a terminal they are drawn by
// ttyScreen (tty.go) in BuildKit's look; for rawjson they feed BuildKit's
// progress display as buildx does: UpdateFrom reads SolveStatus events from a
// channel until it is closed. All methods but send and close are called with
// the view's lock held.
type display struct {
	mode Mode
	ui   progressui.Display
	// con is the terminal, for its width (tty only).
	con console.Console
	out io.Writer

	ch   chan *client.SolveStatus
	done chan struct{}

	dirty    []*vertex
	statuses []*status
	messages int
	// cut are the messages the terminal was too narrow for, printed in full
	// once the display has ended.
	cut []string

	totalVtx   *vertex
	totalBytes *status
	totalShown time.Time

	// tty draws the view on a terminal (nil for rawjson), from listed: the
	// groups and messages in the order they came; start is the run's.
	tty    *ttyScreen
	listed []*vertex
	start  time.Time
}

type vertex struct {
	client.Vertex
	dirty bool
	open  []*status
	// group is the group the vertex stands for; nil for a message.
	group  *group
	listed bool
}

type status struct {
	client.VertexStatus
	vtx   *vertex
	dirty bool
}

// phase is the word of the display's header: "[+] Copying 3.2s (4/12)".
const phase = "Copying"

func newDisplay(out io.Writer, mode Mode) (*display, error) {
	d := &display{mode: mode, out: out, ch: make(chan *client.SolveStatus, 64), done: make(chan struct{}), start: time.Now()}
	var err error
	if mode == TTY {
		f, ok := out.(console.File)
		if !ok {
			return nil, errors.New("not a terminal")
		}
		if d.con, err = console.ConsoleFromFile(f); err != nil {
			return nil, err
		}
		d.tty = &ttyScreen{out: out, size: func() (int, int) {
			sz, err := d.con.Size()
			if err != nil {
				return sizeOrDefault(0, 0)
			}
			return sizeOrDefault(int(sz.Width), int(sz.Height))
		}}
		close(d.done)
		return d, nil
	}
	if d.ui, err = progressui.NewDisplay(out, progressui.RawJSONMode); err != nil {
		return nil, err
	}
	go func() {
		defer close(d.done)
		// The run's own context is not this one: an interrupt still gets
		// its final frame, drawn when the channel is closed.
		_, _ = d.ui.UpdateFrom(context.Background(), d.ch)
	}()
	return d, nil
}

// width is the terminal's; 0 when it has none (rawjson).
func (d *display) width() int {
	if d.con == nil || d.tty != nil {
		return 0 // rawjson has none; the terminal's view cuts its own lines
	}
	if sz, err := d.con.Size(); err == nil && sz.Width > 0 {
		return int(sz.Width)
	}
	return 80
}

// The room BuildKit's display gives a name on a line of width w: " => " and
// the timer (" 123.4s") around it, and "=> " more for a status.
const (
	vertexChrome = 4 + 8 + 1
	statusChrome = vertexChrome + 3
)

// fit cuts s to what a line of the terminal has room for, at a rune boundary
// (BuildKit's display cuts bytes) and saying so with "...". It reports
// whether it cut.
func (d *display) fit(s string, chrome int) (string, bool) {
	s = strings.Join(strings.Fields(s), " ")
	w := d.width()
	if w == 0 {
		return s, false
	}
	room := max(w-chrome, 12)
	if len(s) <= room {
		return s, false
	}
	cut := room - 3
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "...", true
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

func (d *display) mark(v *vertex) {
	if !v.listed && v != d.totalVtx {
		v.listed = true
		d.listed = append(d.listed, v)
	}
	if !v.dirty {
		v.dirty = true
		d.dirty = append(d.dirty, v)
	}
}

func (d *display) markStatus(s *status) {
	if !s.dirty {
		s.dirty = true
		d.statuses = append(d.statuses, s)
	}
}

func (d *display) vertexFor(g *group) *vertex {
	if g.vtx == nil {
		now := time.Now()
		name, _ := d.fit(g.name, vertexChrome)
		g.vtx = &vertex{Vertex: client.Vertex{Digest: digest.FromString("group\x00" + g.name), Name: name, Started: &now}, group: g}
		d.mark(g.vtx)
	}
	return g.vtx
}

// touchGroup shows a group as running, or done when all its tasks are.
func (d *display) touchGroup(g *group) {
	v := d.vertexFor(g)
	if g.ended {
		return
	}
	switch done := g.finished(); {
	case done && v.Completed == nil:
		now := time.Now()
		v.Completed = &now
		d.mark(v)
	case !done && v.Completed != nil:
		v.Completed = nil
		d.mark(v)
	}
}

func (d *display) startTask(g *group, name string, size int64, now time.Time) *status {
	v := d.vertexFor(g)
	id, _ := d.fit(name, statusChrome)
	s := &status{VertexStatus: client.VertexStatus{ID: id, Vertex: v.Digest, Total: size, Timestamp: now, Started: &now}, vtx: v}
	v.open = append(v.open, s)
	d.markStatus(s)
	return s
}

func (d *display) progressTask(s *status, current int64) {
	s.Current = current
	s.Timestamp = time.Now()
	d.markStatus(s)
}

func (d *display) endTask(s *status, size int64) {
	if s == nil || s.Completed != nil {
		return
	}
	now := time.Now()
	s.Current, s.Timestamp, s.Completed = size, now, &now
	d.markStatus(s)
	open := s.vtx.open[:0]
	for _, o := range s.vtx.open {
		if o != s {
			open = append(open, o)
		}
	}
	s.vtx.open = open
}

// message is a line of its own, a step that is done as it starts.
func (d *display) message(msg string) {
	now := time.Now()
	d.messages++
	name, cut := d.fit(msg, vertexChrome)
	if cut {
		d.cut = append(d.cut, msg)
	}
	d.mark(&vertex{Vertex: client.Vertex{Digest: digest.FromString(fmt.Sprintf("message %d", d.messages)), Name: name, Started: &now, Completed: &now}})
}

// endGroup gives a group its last line: done, failed (err) or not done
// (context.Canceled, shown CANCELED). A failure is told by the line itself,
// not as BuildKit's ERROR: that would add a block per failed image after the
// last frame, with nothing in it the line and the summary do not say.
func (d *display) endGroup(g *group, line string, err error) {
	v := d.vertexFor(g)
	now := time.Now()
	v.Name, _ = d.fit(line, vertexChrome)
	v.Completed = &now
	if errors.Is(err, context.Canceled) {
		v.Error = errorText(err)
	}
	d.closeStatuses(v, now)
	d.mark(v)
}

// errorText is what BuildKit's display shows for err: an interrupt or a step
// stopped by another's failure is CANCELED, a failure ERROR.
func errorText(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return context.Canceled.Error()
	}
	return err.Error()
}

func (d *display) closeStatuses(v *vertex, now time.Time) {
	for _, s := range v.open {
		if s.Completed == nil {
			s.Timestamp, s.Completed = now, &now
			d.markStatus(s)
		}
	}
	v.open = nil
}

// flush returns what changed since the last call, or nil.
func (d *display) flush(t *total, now time.Time) *client.SolveStatus {
	switch {
	case t.expected == 0 && d.totalVtx == nil:
		// At once, before the plan is made: the view starts with the run,
		// and its clock too.
		d.showTotal(t, now, "total: planning", nil)
	case t.expected > 0 && (d.totalVtx == nil || d.totalVtx.Name == "total: planning" || now.Sub(d.totalShown) >= 500*time.Millisecond):
		d.showTotal(t, now, "total "+t.text(now), nil)
	}
	if d.tty != nil {
		w, h := d.tty.size()
		d.tty.prepare(render(d.frame(now, false, nil), w, h))
		d.dirty, d.statuses = d.dirty[:0], d.statuses[:0]
		return nil
	}
	if len(d.dirty) == 0 && len(d.statuses) == 0 {
		return nil
	}
	s := &client.SolveStatus{}
	for _, v := range d.dirty {
		c := v.Vertex
		s.Vertexes = append(s.Vertexes, &c)
		v.dirty = false
	}
	for _, st := range d.statuses {
		c := st.VertexStatus
		s.Statuses = append(s.Statuses, &c)
		st.dirty = false
	}
	d.dirty, d.statuses = d.dirty[:0], d.statuses[:0]
	return s
}

// showTotal puts the total at the top: its name carries the numbers on a
// terminal; rawjson readers get them as a status too.
func (d *display) showTotal(t *total, now time.Time, text string, err error) {
	if d.totalVtx == nil {
		start := now
		d.totalVtx = &vertex{Vertex: client.Vertex{Digest: digest.FromString("total"), Started: &start}}
		// First in the list, so it stays at the top.
		d.dirty = append([]*vertex{d.totalVtx}, d.dirty...)
		d.totalVtx.dirty = true
		if d.mode == RawJSON {
			d.totalBytes = &status{VertexStatus: client.VertexStatus{ID: "bytes", Vertex: d.totalVtx.Digest, Started: &start}, vtx: d.totalVtx}
		}
	}
	d.totalShown = now
	name := text
	if d.mode == RawJSON {
		name = "total"
	}
	name, _ = d.fit(name, vertexChrome)
	if name != d.totalVtx.Name {
		d.totalVtx.Name = name
		d.mark(d.totalVtx)
	}
	if b := d.totalBytes; b != nil && (b.Current != t.done || b.Total != t.expected) {
		b.Current, b.Total, b.Timestamp = t.done, t.expected, now
		d.markStatus(b)
	}
}

// finish ends every step still open: done after a success, CANCELED after
// an interrupt or a failure (the command then says what failed).
func (d *display) finish(groups []*group, t *total, err error) *client.SolveStatus {
	now := time.Now()
	if err != nil && !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("stopped: %w", context.Canceled)
	}
	for _, g := range groups {
		if g.vtx == nil || g.ended {
			continue
		}
		v := g.vtx
		d.closeStatuses(v, now)
		if v.Completed == nil || err != nil && !g.finished() {
			v.Completed = &now
			v.Error = errorText(err)
			d.mark(v)
		}
	}
	if d.tty != nil {
		text := "total " + t.final(now, err)
		if t.expected == 0 {
			text = "total: no bytes to move"
		}
		d.showTotal(t, now, text, err)
		w, h := d.tty.size()
		d.tty.prepare(render(d.frame(now, true, err), w, h))
		return nil
	}
	if d.totalVtx != nil || t.expected > 0 {
		text := "total " + t.final(now, err)
		if t.expected == 0 {
			text = "total: no bytes to move"
		}
		d.showTotal(t, now, text, err)
		// Left open after a failure or an interrupt, so that the header does
		// not say FINISHED.
		if err == nil {
			d.totalVtx.Completed = &now
		}
		d.totalVtx.Error = errorText(err)
		d.mark(d.totalVtx)
		if b := d.totalBytes; b != nil {
			b.Completed = &now
			d.markStatus(b)
		}
	}
	return d.flush(&total{}, now)
}

// WriteRawJSON writes text to out as one event of a rawjson stream (see
// RawJSONEvent). It is for what comes after the display has ended, so that
// a reader of --progress rawjson gets JSON lines only.
func WriteRawJSON(out io.Writer, text string, failed bool) error {
	b, err := RawJSONEvent(text, failed)
	if err != nil {
		return err
	}
	_, err = out.Write(append(b, '\n'))
	return err
}

// RawJSONEvent is text as one event of a rawjson stream, encoded as BuildKit
// encodes them but without the newline: a step done as it starts, named
// text, and failed with text as its error when failed is set.
func RawJSONEvent(text string, failed bool) ([]byte, error) {
	now := time.Now()
	v := &client.Vertex{Digest: digest.FromString("after " + now.String() + " " + text), Name: text, Started: &now, Completed: &now}
	if failed {
		v.Error = text
	}
	return json.Marshal(&client.SolveStatus{Vertexes: []*client.Vertex{v}})
}

// send hands BuildKit's display a change; called without the view's lock.
func (d *display) send(s *client.SolveStatus) {
	if d.tty != nil {
		d.tty.draw()
		return
	}
	if s != nil {
		d.ch <- s
	}
}

// close draws the final frame, then prints in full the messages the
// terminal cut.
func (d *display) close(final *client.SolveStatus) {
	d.send(final)
	if d.tty != nil {
		return // the last frame says every message in full
	}
	close(d.ch)
	<-d.done
	for _, m := range d.cut {
		fmt.Fprintln(d.out, Wrap(m, d.width(), "  "))
	}
}

// frame is what the terminal's view shows now.
func (d *display) frame(now time.Time, final bool, err error) frameOf {
	total := "total: planning"
	if d.totalVtx != nil {
		total = d.totalVtx.Name
	}
	return frameOf{elapsed: now.Sub(d.start), total: total, items: d.listed, now: now, final: final, err: err}
}
