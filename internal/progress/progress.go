// Package progress shows what a migration is doing, on stderr. On a terminal
// it is a view in the look of BuildKit's display (what `docker build` and
// `docker buildx` show: one line per platform, or per image in a batch, with
// its transfers under it and a total with speed and ETA), drawn to fit the
// terminal (tty.go); --progress rawjson is BuildKit's event stream; plain is a
// line per platform or image as it is planned and done, and one as each
// transfer that lasts starts and ends; quiet shows nothing.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/docker/go-units"
)

// Mode is a --progress value.
type Mode string

const (
	Auto    Mode = "auto"
	TTY     Mode = "tty"
	Plain   Mode = "plain"
	Quiet   Mode = "quiet"
	RawJSON Mode = "rawjson"
)

// Modes are the --progress values, for help and completion.
var Modes = []Mode{Auto, TTY, Plain, RawJSON, Quiet}

// ParseMode validates a --progress value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, TTY, Plain, Quiet, RawJSON:
		return m, nil
	}
	return "", fmt.Errorf("invalid --progress %q: expected auto, tty, plain, rawjson or quiet", s)
}

// Writer reports progress. It is safe for concurrent use.
type Writer struct {
	*view
	// as, when set, is the one group every task of this Writer counts in: a
	// batch shows one line per image, not one per platform.
	as string
}

// view is the display that a Writer and its Group views share.
type view struct {
	out  *lineWriter
	mode Mode
	// display is BuildKit's display (tty, rawjson); nil in plain and quiet.
	display *display

	mu      sync.Mutex
	groups  map[string]*group
	order   []*group
	tasks   []*Task // plain: tasks whose start line is not printed yet
	total   total
	stopped bool

	stop chan struct{} // closed by Stop: the ticker ends
	done chan struct{} // closed when the ticker has ended
}

type group struct {
	name             string
	total, current   int64
	tasks, tasksDone int
	// planned groups know their tasks and bytes up front (Expect), so they
	// are done only when all of them are.
	planned bool
	// announced: plain mode printed the group's plan line.
	announced bool
	// ended: Finish gave the group its last line.
	ended bool
	vtx   *vertex
	// started is when the group's first task or plan came (plain mode's
	// group line says how long it took).
	started time.Time
}

func (g *group) finished() bool { return g.tasks > 0 && g.tasksDone >= g.tasks }

// New returns a Writer in mode; Auto must be resolved by the caller (it knows
// whether out is a terminal). TTY needs out to be the terminal's file
// (os.Stderr); any other writer gets plain lines instead.
func New(out io.Writer, mode Mode) *Writer {
	v := &view{out: &lineWriter{w: out}, mode: mode, groups: map[string]*group{}}
	v.total.start = time.Now()
	switch mode {
	case Quiet:
		return &Writer{view: v}
	case TTY, RawJSON:
		d, err := newDisplay(out, mode)
		if err != nil {
			v.mode = Plain
		} else {
			v.display = d
		}
	}
	v.stop, v.done = make(chan struct{}), make(chan struct{})
	go v.tick()
	return &Writer{view: v}
}

// Discard is a Writer that shows nothing.
func Discard() *Writer { return New(io.Discard, Quiet) }

// Mode is the Writer's mode once resolved: a TTY Writer on something that is
// not a terminal is Plain.
func (w *Writer) Mode() Mode {
	if w == nil {
		return Quiet
	}
	return w.mode
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

// Task is one unit of work (a blob or a manifest) within a group (a platform).
type Task struct {
	w    *Writer
	g    *group
	name string
	size int64
	seen int64
	// held is the part of seen an earlier run moved (Held).
	held    int64
	done    bool
	started time.Time
	// shown: plain mode printed its start line.
	shown  bool
	status *status
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
		w.total.expected += size
	}
	t := &Task{w: w, g: g, name: name, size: size, started: time.Now()}
	switch {
	case w.display != nil:
		t.status = w.display.startTask(g, name, size, t.started)
		w.display.touchGroup(g)
	case w.mode == Plain:
		w.tasks = append(w.tasks, t)
	}
	return t
}

// Expect announces a group's tasks and bytes before they start, so the
// display shows the whole of the work from the beginning.
func (w *Writer) Expect(groupName string, tasks int, size int64) {
	if w == nil || w.mode == Quiet {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.groupLocked(w.groupFor(groupName))
	g.planned = true
	g.tasks += tasks
	g.total += size
	w.total.expected += size
	if w.display != nil {
		w.display.touchGroup(g)
	}
}

// groupLocked returns the named group, making it at the end of the view.
func (w *Writer) groupLocked(name string) *group {
	g := w.groups[name]
	if g == nil {
		g = &group{name: name, started: time.Now()}
		w.groups[name] = g
		w.order = append(w.order, g)
	}
	return g
}

// Add records n more bytes done.
func (t *Task) Add(n int64) {
	t.w.mu.Lock()
	t.seen += n
	t.g.current += n
	t.w.total.done += n
	t.w.total.moved += n
	if t.status != nil {
		t.w.display.progressTask(t.status, t.seen)
	}
	t.w.mu.Unlock()
}

// Held records n bytes the destination holds from an earlier run (a resumed
// upload): done, but not moved by this run, so the speed does not count them.
func (t *Task) Held(n int64) {
	t.w.mu.Lock()
	t.seen += n
	t.held += n
	t.g.current += n
	t.w.total.done += n
	if t.status != nil {
		t.w.display.progressTask(t.status, t.seen)
	}
	t.w.mu.Unlock()
}

// Reset forgets the bytes done so far (a retried transfer starts again).
func (t *Task) Reset() {
	t.w.mu.Lock()
	t.g.current -= t.seen
	t.w.total.done -= t.seen
	t.w.total.moved -= t.seen - t.held
	t.seen, t.held = 0, 0
	if t.status != nil {
		t.w.display.progressTask(t.status, 0)
	}
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
	w.total.done += t.size - t.seen
	t.seen = t.size
	t.g.tasksDone++
	line := ""
	switch {
	case w.display != nil:
		w.display.endTask(t.status, t.size)
		w.display.touchGroup(t.g)
	case w.mode == Plain:
		// A CI log gets a line for each transfer that lasted (it had a
		// start line), and one per group when the group is done; the many
		// that end at once are said in that line. Steps of a group that was
		// not planned (Expect) have no group line, so each says it ends;
		// in a batch, the image's own line (Finish) says it.
		batch := w.as != ""
		if t.shown || (!t.g.planned && !batch) {
			line = fmt.Sprintf("%s: %s %s", t.g.name, t.name, status)
			line += notes(t.size, time.Since(t.started))
		}
		if t.g.planned && t.g.finished() && !batch {
			if line != "" {
				line += "\n"
			}
			line += fmt.Sprintf("%s: done, %s", t.g.name, wording.CountOf(t.g.tasks, "blob or manifest", "blobs and manifests")) +
				notes(t.g.total, time.Since(t.g.started))
		}
	}
	w.mu.Unlock()
	if line != "" {
		w.out.printf("%s\n", line)
	}
}

// Logf prints a line: in plain mode as it is, on a terminal as a step of its
// own (and in full after the display ends, if the terminal cut it short).
func (w *Writer) Logf(format string, args ...any) {
	if w == nil || w.mode == Quiet {
		return
	}
	msg := fmt.Sprintf(format, args...)
	w.mu.Lock()
	if w.display != nil && !w.stopped {
		w.display.message(msg)
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	if w.mode == RawJSON {
		// The stream has ended, but a reader of it still gets only JSON.
		_ = WriteRawJSON(w.out, msg, false)
		return
	}
	w.out.printf("%s\n", msg)
}

// Finish ends the group of a Group view with its last line: "[3/40]
// nginx:1.27 … copied". err marks it failed (the line says why), or not done
// when it is context.Canceled.
func (w *Writer) Finish(line string, err error) {
	if w == nil || w.mode == Quiet {
		return
	}
	w.mu.Lock()
	if w.display != nil && !w.stopped {
		g := w.groupLocked(w.groupFor(""))
		g.ended = true
		w.display.endGroup(g, line, err)
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	w.out.printf("%s\n", line)
}

// Above returns a writer for out, a stream that shares the terminal with the
// view (stdout on the same terminal as stderr): what it writes, whole lines,
// goes above the view, which is drawn again below it. Elsewhere (no view on a
// terminal, or once it stopped) it is out.
func (w *Writer) Above(out io.Writer) io.Writer {
	if w == nil || w.display == nil || w.display.tty == nil {
		return out
	}
	return aboveWriter{w: w, out: out}
}

type aboveWriter struct {
	w   *Writer
	out io.Writer
}

func (a aboveWriter) Write(p []byte) (int, error) {
	a.w.mu.Lock()
	live := !a.w.stopped
	a.w.mu.Unlock()
	if !live {
		return a.out.Write(p)
	}
	return a.w.display.tty.above(a.out, p)
}

// LogOutput returns a writer for the log lines (logrus's, under -D) that
// would go to out, stderr, while the view runs: on a terminal they go above
// the view (Above), which is drawn again below them; in rawjson each line is
// an event of the stream (Logf), so that a reader gets JSON lines only, after
// the view has stopped too. Plain and quiet runs, and Writers without a view,
// get out itself.
func (w *Writer) LogOutput(out io.Writer) io.Writer {
	switch {
	case w == nil || w.display == nil:
		return out
	case w.display.tty != nil:
		return w.Above(out)
	}
	return logLines{w: w}
}

// logLines makes each line written to it one Logf line.
type logLines struct{ w *Writer }

func (l logLines) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(string(p), "\n") {
		if line = strings.TrimRight(line, "\r"); strings.TrimSpace(line) != "" {
			l.w.Logf("%s", line)
		}
	}
	return len(p), nil
}

// Close stops the display, leaving its last state on screen.
func (w *Writer) Close() { w.Stop(nil) }

// Stop stops the display after a run that ended with err: nil for success,
// context.Canceled for an interrupt. On a terminal the last frame says which
// steps were cut short. Calling it again does nothing.
func (w *Writer) Stop(err error) {
	if w == nil || w.mode == Quiet {
		return
	}
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.stopped = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	if w.display != nil {
		w.mu.Lock()
		final := w.display.finish(w.order, &w.total, err)
		w.mu.Unlock()
		w.display.close(final)
	}
}

// tick is the view's clock: it sends BuildKit's display what changed, and in
// plain mode prints the start lines of steps that take a while and the total.
func (v *view) tick() {
	defer close(v.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case now := <-t.C:
			v.mu.Lock()
			v.total.sample(now)
			if v.display != nil {
				s := v.display.flush(&v.total, now)
				v.mu.Unlock()
				v.display.send(s)
				continue
			}
			lines := v.plainLinesLocked(now)
			v.mu.Unlock()
			for _, l := range lines {
				v.out.printf("%s\n", l)
			}
		}
	}
}

// notes is " (1.2MB, 3.4s)": a size, and a duration worth saying.
func notes(size int64, d time.Duration) string {
	var n []string
	if size > 0 {
		n = append(n, units.HumanSize(float64(size)))
	}
	if d >= 50*time.Millisecond {
		n = append(n, seconds(d))
	}
	if len(n) == 0 {
		return ""
	}
	return " (" + strings.Join(n, ", ") + ")"
}

// startDelay is how long a step runs before plain mode prints its start line
// (and then its end line): the many steps that end sooner are said in their
// group's line. In a batch, where many images move at once and each has a
// line of its own, only a transfer that lasts longer gets lines.
const (
	startDelay      = time.Second
	batchStartDelay = 5 * time.Second
)

// totalEvery is how often plain mode prints the total while bytes move.
const totalEvery = 5 * time.Second

func (v *view) plainLinesLocked(now time.Time) []string {
	var lines []string
	for _, g := range v.order {
		if g.planned && !g.announced && g.tasks > 0 {
			g.announced = true
			lines = append(lines, fmt.Sprintf("%s: %s to copy (%s)", g.name, wording.CountOf(g.tasks, "blob or manifest", "blobs and manifests"), units.HumanSize(float64(g.total))))
		}
	}
	keep := v.tasks[:0]
	for _, t := range v.tasks {
		switch {
		case t.done:
		case now.Sub(t.started) >= startDelay && (t.w.as == "" || now.Sub(t.started) >= batchStartDelay):
			t.shown = true
			line := fmt.Sprintf("%s: %s started", t.g.name, t.name)
			if t.size > 0 {
				line += " (" + units.HumanSize(float64(t.size)) + ")"
			}
			lines = append(lines, line)
		default:
			keep = append(keep, t)
		}
	}
	clear(v.tasks[len(keep):])
	v.tasks = keep
	if v.total.due(now, totalEvery) {
		lines = append(lines, "total: "+v.total.text(now))
	}
	return lines
}

// lineWriter serialises whole lines from several goroutines.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// seconds formats a duration as BuildKit does: 0.3s, 12.5s, 94.0s.
func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
