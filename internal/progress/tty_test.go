package progress

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
)

// viewOf makes a frame of n groups, each with open transfers, the first done
// of them finished and the last waiting ones not started.
func viewOf(n, open, done, waiting int, now time.Time) frameOf {
	start := now.Add(-3 * time.Second)
	var items []*vertex
	for i := range n {
		g := &group{name: fmt.Sprintf("linux/arch%d", i), tasks: open + 1, total: 3 << 20}
		v := &vertex{Vertex: client.Vertex{Name: g.name, Started: &start}, group: g}
		g.vtx = v
		switch {
		case i < done:
			v.Completed = &now
			g.tasksDone, g.current = g.tasks, g.total
		case i >= n-waiting:
		default:
			g.current = 1 << 20
			for j := range open {
				v.open = append(v.open, &status{VertexStatus: client.VertexStatus{ID: fmt.Sprintf("blob %012d", i*100+j), Current: 1 << 19, Total: 1 << 20, Started: &start}})
			}
		}
		items = append(items, v)
	}
	return frameOf{elapsed: 3 * time.Second, total: "total 12MB / 40MB, 3MB/s, ETA 9s", items: items, now: now}
}

func TestRenderFitsTheTerminal(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name                 string
		n, open, done, wait  int
		width, height        int
		wantFinished, wantWt bool
	}{
		{"8 platforms at 80x24", 8, 4, 2, 2, 80, 24, true, true},
		{"8 platforms at 120x40", 8, 3, 2, 2, 120, 40, false, false},
		{"40 images at 80x24", 40, 2, 10, 20, 80, 24, true, true},
		{"a tiny pane", 12, 4, 3, 3, 30, 6, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := render(viewOf(tc.n, tc.open, tc.done, tc.wait, now), tc.width, tc.height)
			t.Logf("\n%s", strings.Join(lines, "\n"))
			if len(lines) > tc.height-1 {
				t.Errorf("%d lines on a %d-line terminal:\n%s", len(lines), tc.height, strings.Join(lines, "\n"))
			}
			if !strings.HasPrefix(lines[1], " => total 12MB") && !strings.HasPrefix(lines[1], " => total") {
				t.Errorf("the second line is %q, want the total", lines[1])
			}
			for i, l := range lines {
				if w := columns.StringWidth(l); w > tc.width-1 {
					t.Errorf("line %d is %d columns on a %d-column terminal: %q", i+1, w, tc.width, l)
				}
			}
			all := strings.Join(lines, "\n")
			if got := strings.Contains(all, " finished: "); got != tc.wantFinished {
				t.Errorf("finished groups collapsed: %v, want %v:\n%s", got, tc.wantFinished, all)
			}
			if got := strings.Contains(all, " waiting: "); got != tc.wantWt {
				t.Errorf("waiting groups collapsed: %v, want %v:\n%s", got, tc.wantWt, all)
			}
			if !strings.Contains(lines[0], fmt.Sprintf("(%d/", tc.done*(tc.open+1))) {
				t.Errorf("the header %q does not count the transfers done", lines[0])
			}
		})
	}
}

// A name with "…" measures it as one column: the line is as wide as any
// other, and a cut never splits a character.
func TestRenderEllipsis(t *testing.T) {
	for _, width := range []int{60, 80, 120} {
		for _, name := range []string{
			"[3/40] nginx:1.27 … copied (2 platforms, 153.4kB)",
			"[10/10] 127.0.0.1:37805/e2e/batch08:v1 … copied (2 platforms, 153.4kB) and some more words to cut",
		} {
			l := stepLine(" => ", name, "", 1500*time.Millisecond, width)
			if w := columns.StringWidth(l); w != width-1 {
				t.Errorf("width %d: %q is %d columns, want %d", width, l, w, width-1)
			}
			if !strings.HasSuffix(l, " 1.5s") {
				t.Errorf("width %d: %q does not end with its time", width, l)
			}
		}
	}
}

func TestRenderLastFrame(t *testing.T) {
	now := time.Now()
	f := viewOf(3, 0, 3, 0, now)
	msg := &vertex{Vertex: client.Vertex{Name: "127.0.0.1:5000/uptodate/img:v1 is up to date at sha256:4390d828d32a5d72e0bcb2b53cc844682a9c645fb26df6632f8e23f1254a31c9"}}
	f.items = append(f.items, msg)
	f.final = true
	lines := render(f, 80, 24)
	all := strings.Join(lines, "\n")
	if !strings.Contains(lines[0], "FINISHED") || !strings.Contains(lines[0], "(3/3)") {
		t.Errorf("the last header after a success is %q", lines[0])
	}
	if !strings.Contains(all, "4390d828d32a5d72e0bcb2b53cc844682a9c645fb26df6632f8e23f1254a31c9") {
		t.Errorf("the last frame cuts a message:\n%s", all)
	}
	f.err = context.Canceled
	if lines := render(f, 80, 24); strings.Contains(lines[0], "FINISHED") {
		t.Errorf("the last header after an interrupt is %q", lines[0])
	}
}

// However narrow the terminal, no line wraps.
func TestRenderNarrow(t *testing.T) {
	now := time.Now()
	for _, width := range []int{2, 8, 15, 19, 25} {
		for _, l := range render(viewOf(3, 2, 1, 1, now), width, 24) {
			if w := columns.StringWidth(l); w > width-1 {
				t.Errorf("width %d: line %q is %d columns", width, l, w)
			}
		}
	}
}
