// Package progress shows what a migration is doing, on stderr: a live view per
// platform on a terminal, one line per finished step in plain mode, or nothing.
package progress

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"
)

// Mode is a --progress value.
type Mode string

const (
	Auto  Mode = "auto"
	TTY   Mode = "tty"
	Plain Mode = "plain"
	Quiet Mode = "quiet"
)

// ParseMode validates a --progress value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, TTY, Plain, Quiet:
		return m, nil
	}
	return "", fmt.Errorf("invalid --progress %q: expected auto, tty, plain or quiet", s)
}

// maxLiveGroups is the most lines the live view gives groups; past it, a
// batch shows only what is in progress.
const maxLiveGroups = 12

// Writer reports progress. It is safe for concurrent use.
type Writer struct {
	*view
	// as, when set, is the one group every task of this Writer counts in: a
	// batch shows one line per image, not one per platform.
	as string
}

// view is the display that a Writer and its Group views share.
type view struct {
	out  io.Writer
	mode Mode

	mu     sync.Mutex
	groups []*group
	byName map[string]*group
	lines  int // lines of the live view currently on screen
	stop   chan struct{}
	done   chan struct{}
	start  time.Time
}

type group struct {
	name             string
	total, current   int64
	tasks, tasksDone int
	status           string
	finished         bool
	// planned groups know their tasks and bytes up front (Expect), so they
	// show "done" only when all of them are.
	planned bool
}

// New returns a Writer in mode; Auto must be resolved by the caller (it knows
// whether out is a terminal).
func New(out io.Writer, mode Mode) *Writer {
	w := &Writer{view: &view{out: out, mode: mode, byName: map[string]*group{}, start: time.Now()}}
	if mode == TTY {
		w.stop, w.done = make(chan struct{}), make(chan struct{})
		go w.refresh()
	}
	return w
}

// Group returns a Writer on the same display whose tasks all count in the
// group named name, whatever group they give.
func (w *Writer) Group(name string) *Writer {
	if w == nil {
		w = Discard()
	}
	return &Writer{view: w.view, as: name}
}

func (w *Writer) groupFor(name string) string {
	if w.as != "" {
		return w.as
	}
	return name
}

// Discard is a Writer that shows nothing.
func Discard() *Writer { return New(io.Discard, Quiet) }

// Task is one unit of work (a blob or a manifest) within a group (a platform).
type Task struct {
	w    *Writer
	g    *group
	name string
	size int64
	seen int64
	done bool
}

// Task starts a task of size bytes in group.
func (w *Writer) Task(groupName, name string, size int64) *Task {
	if w == nil {
		w = Discard()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.groupLocked(w.groupFor(groupName))
	if !g.planned {
		g.total += size
		g.tasks++
		g.finished = false
	}
	return &Task{w: w, g: g, name: name, size: size}
}

// Expect announces a group's tasks and bytes before they start, so the live
// view shows the whole of the work from the beginning.
func (w *Writer) Expect(groupName string, tasks int, size int64) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.groupLocked(w.groupFor(groupName))
	g.planned = true
	g.tasks += tasks
	g.total += size
	g.finished = g.tasksDone >= g.tasks
}

// groupLocked returns the named group, making it at the end of the view.
func (w *Writer) groupLocked(name string) *group {
	g := w.byName[name]
	if g == nil {
		g = &group{name: name}
		w.byName[name] = g
		w.groups = append(w.groups, g)
	}
	return g
}

// Add records n more bytes done.
func (t *Task) Add(n int64) {
	t.w.mu.Lock()
	t.seen += n
	t.g.current += n
	t.w.mu.Unlock()
}

// Reset forgets the bytes done so far (a retried transfer starts again).
func (t *Task) Reset() {
	t.w.mu.Lock()
	t.g.current -= t.seen
	t.seen = 0
	t.w.mu.Unlock()
}

// Done finishes the task with a status word ("copied", "mounted", "exists", "pushed").
func (t *Task) Done(status string) {
	w := t.w
	w.mu.Lock()
	if t.done {
		w.mu.Unlock()
		return
	}
	t.done = true
	t.g.current += t.size - t.seen
	t.seen = t.size
	t.g.tasksDone++
	t.g.status = status
	if t.g.tasksDone == t.g.tasks {
		t.g.finished = true
	}
	line := ""
	if w.mode == Plain {
		line = fmt.Sprintf("%s: %s %s", t.g.name, t.name, status)
		if t.size > 0 {
			line += " (" + units.HumanSize(float64(t.size)) + ")"
		}
	}
	w.mu.Unlock()
	if line != "" {
		w.Logf("%s", line)
	}
}

// Logf prints a line: in plain mode as is, on a terminal above the live view.
func (w *Writer) Logf(format string, args ...any) {
	if w == nil || w.mode == Quiet {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.clearLocked()
	fmt.Fprintf(w.out, format+"\n", args...)
	w.drawLocked()
}

// Close stops the live view, leaving its last state on screen.
func (w *Writer) Close() {
	if w == nil || w.stop == nil {
		return
	}
	close(w.stop)
	<-w.done
	w.stop = nil
}

func (w *Writer) refresh() {
	defer close(w.done)
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			w.mu.Lock()
			w.clearLocked()
			w.drawLocked()
			w.lines = 0 // leave the final view on screen
			w.mu.Unlock()
			return
		case <-tick.C:
			w.mu.Lock()
			w.clearLocked()
			w.drawLocked()
			w.mu.Unlock()
		}
	}
}

// clearLocked moves the cursor up over the live view and erases it.
func (w *Writer) clearLocked() {
	if w.mode != TTY || w.lines == 0 {
		return
	}
	fmt.Fprintf(w.out, "\x1b[%dA\x1b[J", w.lines)
	w.lines = 0
}

func (w *Writer) drawLocked() {
	if w.mode != TTY || len(w.groups) == 0 {
		return
	}
	width := 0
	for _, g := range w.groups {
		width = max(width, len(g.name))
	}
	groups := slices.Clone(w.groups)
	var hidden int
	if len(groups) > maxLiveGroups {
		// A batch of many images: show the ones in progress, count the rest.
		groups = slices.DeleteFunc(groups, func(g *group) bool { return g.finished || g.tasks == 0 })
		if len(groups) > maxLiveGroups {
			groups = groups[:maxLiveGroups]
		}
		hidden = len(w.groups) - len(groups)
	}
	var b strings.Builder
	for _, g := range groups {
		state := "working"
		if g.finished {
			state = "done"
		}
		fmt.Fprintf(&b, "%-*s  %s %3d/%-3d %9s / %-9s %s\n", width, g.name, bar(g.current, g.total), g.tasksDone, g.tasks,
			units.HumanSize(float64(g.current)), units.HumanSize(float64(g.total)), state)
	}
	if hidden > 0 {
		fmt.Fprintf(&b, "(%d more, done or waiting)\n", hidden)
	}
	fmt.Fprintf(&b, "elapsed %s\n", time.Since(w.start).Round(100*time.Millisecond))
	fmt.Fprint(w.out, b.String())
	w.lines = strings.Count(b.String(), "\n")
}

func bar(cur, total int64) string {
	const n = 20
	fill := n
	if total > 0 {
		fill = int(min(cur, total) * n / total)
	}
	return "[" + strings.Repeat("=", fill) + strings.Repeat(" ", n-fill) + "]"
}
