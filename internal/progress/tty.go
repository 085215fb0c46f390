package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-runewidth"
)

// ttyScreen draws the view on a terminal in BuildKit's look ("[+] Copying
// 3.2s (4/12)", " => step  1.2s", " => => transfer  1.2MB / 5MB  0.3s"), from
// the same steps the rawjson stream carries. It is drawn here rather than by
// BuildKit's progressui, which cuts the top of a view taller than the
// terminal (the total line with it), measures bytes as columns (a "…" is three)
// and cuts names inside a character, and keeps every finished transfer on
// screen: here a frame never is taller than the terminal, finished and
// waiting groups collapse when the screen is short, and every line is measured
// in columns and cleared to its end.
type ttyScreen struct {
	out io.Writer
	// size is the terminal's width and height, asked at each frame.
	size func() (width, height int)

	mu      sync.Mutex
	pending []string
	ready   bool
	// last is the frame on screen, drawn again below what goes above it.
	last []string
	// drawn is how many lines the last frame took; the cursor is on the
	// line below them.
	drawn int
}

// columns measures text as a terminal shows it; "…" and other characters of
// ambiguous width are one column, as in the terminals of the field.
var columns = func() *runewidth.Condition {
	c := runewidth.NewCondition()
	c.EastAsianWidth = false
	return c
}()

const ellipsis = "…"

// cut shortens s to at most w columns, saying so with "…".
func cut(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if columns.StringWidth(s) <= w {
		return s
	}
	return columns.Truncate(s, w, ellipsis)
}

// stepLine is one line of the view: prefix and name on the left, then status
// when there is room, and the timer at the right edge, less one column (a
// character in the last column makes some terminals wrap).
func stepLine(prefix, name, status string, d time.Duration, width int) string {
	if d < 50*time.Millisecond {
		d = 0
	}
	timer := seconds(d)
	room := width - 1 - len(timer) - 1 - columns.StringWidth(prefix)
	if status != "" && room-len(status)-1 >= 12 {
		room -= len(status) + 1
	} else {
		status = ""
	}
	if room < 4 {
		return cut(prefix+name, width-1)
	}
	left := prefix + cut(name, room)
	if status != "" {
		left += " " + status
	}
	pad := width - 1 - len(timer) - columns.StringWidth(left)
	return left + strings.Repeat(" ", max(pad, 1)) + timer
}

// frameOf is what a frame shows: the view's steps at one moment.
type frameOf struct {
	elapsed time.Duration
	total   string
	items   []*vertex
	now     time.Time
	// final: the run ended, with err (nil: done).
	final bool
	err   error
}

// duration is how long v ran, or has run by now.
func duration(started, completed *time.Time, now time.Time) time.Duration {
	if started == nil {
		return 0
	}
	end := now
	if completed != nil {
		end = *completed
	}
	return max(end.Sub(*started), 0)
}

// label is a step's name as the view says it: CANCELED or ERROR in front of
// one that did not end well.
func label(v *vertex) string {
	switch {
	case v.Error == "":
		return v.Name
	case strings.HasSuffix(v.Error, "context canceled"):
		return "CANCELED " + v.Name
	}
	return "ERROR " + v.Name
}

// groupStatus is a running group's own progress, or that it waits.
func groupStatus(v *vertex) string {
	g := v.group
	switch {
	case g == nil || v.Completed != nil:
		return ""
	case len(v.open) == 0 && g.current == 0:
		return "waiting"
	case g.total > 0:
		return fmt.Sprintf("%s / %s", size(g.current), size(g.total))
	}
	return ""
}

// render lays out a frame for a terminal of width×height. A running frame is
// never taller than height-1 lines, so the terminal never scrolls it and
// redrawing never leaves a copy in the scrollback: when the steps do not fit,
// the finished groups collapse into one line, the waiting ones into another,
// the older messages are left out, and the transfers shown are shared out
// among the running groups. The last frame lists every group and message in
// full, however tall.
func render(f frameOf, width, height int) []string {
	width = max(width, 2)
	// The header counts the transfers (blobs and manifests), which end one
	// by one, rather than the groups, which often end all at once.
	var done, count int
	for _, v := range f.items {
		if v.group != nil {
			count += v.group.tasks
			done += min(v.group.tasksDone, v.group.tasks)
		}
	}
	head := fmt.Sprintf("[+] %s %.1fs", phase, f.elapsed.Seconds())
	if count > 0 {
		head += fmt.Sprintf(" (%d/%d)", done, count)
	}
	if f.final && f.err == nil {
		head += " FINISHED"
	}
	lines := []string{cut(head, width-1), stepLine(" => ", f.total, "", f.elapsed, width)}
	if f.final {
		for _, v := range f.items {
			if v.group == nil {
				// A message in full, wrapped, so that it is said once.
				for i, l := range strings.Split(Wrap(v.Name, width-5, "    "), "\n") {
					if i == 0 {
						lines = append(lines, stepLine(" => ", l, "", 0, width))
					} else {
						lines = append(lines, cut(" "+l, width-1))
					}
				}
				continue
			}
			lines = append(lines, stepLine(" => ", label(v), "", duration(v.Started, v.Completed, f.now), width))
		}
		return lines
	}
	return append(lines, body(f, width, max(height-3, 1))...)
}

// body is a running frame's steps in at most budget lines.
func body(f frameOf, width, budget int) []string {
	if fullHeight(f) <= budget {
		return fullBody(f, width)
	}
	return collapsedBody(f, width, budget)
}

// groupLine is a group's line: its label, progress and time.
func groupLine(v *vertex, now time.Time, width int) string {
	return stepLine(" => ", label(v), groupStatus(v), duration(v.Started, v.Completed, now), width)
}

// statusLine is a transfer's line, under its group's.
func statusLine(s *status, now time.Time, width int) string {
	st := ""
	if s.Total > 0 {
		st = fmt.Sprintf("%s / %s", size(s.Current), size(s.Total))
	} else if s.Current > 0 {
		st = size(s.Current)
	}
	return stepLine(" => => ", s.ID, st, duration(s.Started, s.Completed, now), width)
}

// fullHeight is how many lines the steps take with every open transfer.
func fullHeight(f frameOf) int {
	full := 0
	for _, v := range f.items {
		full++
		if v.group != nil && v.Completed == nil {
			full += len(v.open)
		}
	}
	return full
}

// fullBody is every step, each running group with its open transfers.
func fullBody(f frameOf, width int) []string {
	var out []string
	for _, v := range f.items {
		if v.group == nil {
			out = append(out, stepLine(" => ", v.Name, "", 0, width))
			continue
		}
		out = append(out, groupLine(v, f.now, width))
		if v.Completed == nil {
			for _, s := range v.open {
				out = append(out, statusLine(s, f.now, width))
			}
		}
	}
	return out
}

// collapsedBody is a frame too tall for budget, collapsed: finished and
// waiting groups one line each, the last few messages, the running groups
// with as many transfers as fit.
func collapsedBody(f frameOf, width, budget int) []string {
	const keptMessages = 2
	finished, waiting, running, messages := sortSteps(f.items)
	if len(messages) > keptMessages {
		messages = messages[len(messages)-keptMessages:]
	}
	fixed := len(messages)
	if len(finished) > 0 {
		fixed++
	}
	if len(waiting) > 0 {
		fixed++
	}
	shownRunning := running
	more := 0
	if fixed+len(running) > budget {
		n := max(budget-fixed-1, 0)
		shownRunning, more = running[:n], len(running)-n
	}
	room := budget - fixed - len(shownRunning)
	if more > 0 {
		room--
	}
	shown := shareTransfers(shownRunning, room)
	var out []string
	if len(finished) > 0 {
		out = append(out, stepLine(" => ", summary(len(finished), "finished", finished), "", 0, width))
	}
	for i, v := range shownRunning {
		out = append(out, groupLine(v, f.now, width))
		for _, s := range v.open[:shown[i]] {
			out = append(out, statusLine(s, f.now, width))
		}
	}
	if more > 0 {
		out = append(out, stepLine(" => ", summary(more, "more running", running[len(shownRunning):]), "", 0, width))
	}
	for _, v := range messages {
		out = append(out, stepLine(" => ", v.Name, "", 0, width))
	}
	if len(waiting) > 0 {
		out = append(out, stepLine(" => ", summary(len(waiting), "waiting", waiting), "", 0, width))
	}
	return out
}

// sortSteps sorts the steps of a collapsed frame: the groups finished,
// waiting and running, and the messages.
func sortSteps(items []*vertex) (finished, waiting, running, messages []*vertex) {
	for _, v := range items {
		switch {
		case v.group == nil:
			messages = append(messages, v)
		case v.Completed != nil:
			finished = append(finished, v)
		case len(v.open) == 0 && v.group.current == 0:
			waiting = append(waiting, v)
		default:
			running = append(running, v)
		}
	}
	return finished, waiting, running, messages
}

// shareTransfers shares room lines out among the running groups' open
// transfers: each group one first, then more in order. It returns how many
// of each group's transfers are shown.
func shareTransfers(running []*vertex, room int) []int {
	shown := make([]int, len(running))
	for room > 0 {
		gave := false
		for i, v := range running {
			if room > 0 && shown[i] < len(v.open) {
				shown[i]++
				room--
				gave = true
			}
		}
		if !gave {
			break
		}
	}
	return shown
}

// summary is a collapsed line: "5 finished: linux/amd64, linux/arm64, …".
func summary(n int, what string, vs []*vertex) string {
	names := make([]string, 0, len(vs))
	for _, v := range vs {
		names = append(names, label(v))
	}
	return fmt.Sprintf("%d %s: %s", n, what, strings.Join(names, ", "))
}

// prepare keeps a frame to draw; called with the view's lock held.
func (s *ttyScreen) prepare(lines []string) {
	s.mu.Lock()
	s.pending, s.ready = lines, true
	s.mu.Unlock()
}

// draw puts the frame prepared last on the screen in place of the one
// before: up to its first line, each line cleared to its end, and whatever
// the old frame had below the new one cleared.
func (s *ttyScreen) draw() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready {
		return
	}
	s.ready = false
	s.writeLocked(s.pending)
}

func (s *ttyScreen) writeLocked(lines []string) {
	var b strings.Builder
	b.WriteString("\x1b[?25l") // no cursor flickering over the view
	if s.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", s.drawn)
	}
	b.WriteString("\r")
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\x1b[K\n")
	}
	b.WriteString("\x1b[J\x1b[?25h")
	s.drawn, s.last = len(lines), lines
	_, _ = io.WriteString(s.out, b.String())
}

// above writes p, whole lines for another stream on the same terminal
// (stdout), where the view is, and draws the view again below them: written
// under the view, they would be drawn over, and the view's next frame would
// start below its old header.
func (s *ttyScreen) above(out io.Writer, p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.drawn; n > 0 {
		// Erased line by line: an erase from the top of the screen to its end
		// is a clear screen, which some terminals (tmux) keep in their
		// scrollback.
		var b strings.Builder
		fmt.Fprintf(&b, "\x1b[%dA", n)
		for range n {
			b.WriteString("\r\x1b[2K\x1b[B")
		}
		fmt.Fprintf(&b, "\x1b[%dA\r", n)
		_, _ = io.WriteString(s.out, b.String())
		s.drawn = 0
	}
	n, err := out.Write(p)
	if s.last != nil {
		s.writeLocked(s.last)
	}
	return n, err
}

// sizeOrDefault is the terminal's size, or 80×24 when it will not say.
func sizeOrDefault(w, h int) (int, int) {
	if w <= 0 {
		w = 80
	}
	if h <= 0 {
		h = 24
	}
	return w, h
}
