package progress

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
)

func TestParseMode(t *testing.T) {
	for _, m := range Modes {
		if got, err := ParseMode(string(m)); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseMode("fancy"); err == nil || !strings.Contains(err.Error(), "rawjson") {
		t.Errorf("ParseMode(fancy): %v", err)
	}
}

// syncBuffer is written by the view's ticker while the test reads it.
type syncBuffer struct {
	lineWriter
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer {
	b := &syncBuffer{}
	b.w = &b.buf
	return b
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestPlain(t *testing.T) {
	out := newSyncBuffer()
	pw := New(out, Plain)
	pw.Expect("linux/amd64", 2, 3000)
	slow := pw.Task("linux/amd64", "blob 111111111111", 2000)
	fast := pw.Task("linux/amd64", "blob 222222222222", 1000)
	fast.Done("mounted")
	// The plan line comes at once, the start line of a step that takes a while soon after.
	if !waitFor(2*time.Second, func() bool { return strings.Contains(out.String(), "blob 111111111111 started") }) {
		t.Fatalf("no start line for a slow step:\n%s", out.String())
	}
	slow.Add(1000)
	slow.Done("copied")
	pw.Logf("a note")
	pw.Close()
	got := out.String()
	for _, want := range []string{
		"linux/amd64: 2 blobs and manifests to copy (3kB)\n",
		"linux/amd64: blob 111111111111 started (2kB)\n",
		"linux/amd64: blob 111111111111 copied (2kB, ",
		"linux/amd64: done, 2 blobs and manifests (3kB, ",
		"a note\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// A step that ended at once is said in its group's line, not in one of
	// its own.
	if strings.Contains(got, "222222222222") {
		t.Errorf("a step that ended at once has lines of its own:\n%s", got)
	}
	if strings.Contains(got, "222222222222 started") {
		t.Errorf("a step that ended at once has a start line:\n%s", got)
	}
	if strings.Index(got, "to copy") > strings.Index(got, "111111111111 started") {
		t.Errorf("the plan line comes after a start line:\n%s", got)
	}
}

func TestPlainGroupView(t *testing.T) {
	var out bytes.Buffer
	pw := New(&out, Plain)
	img := pw.Group("nginx:1.27")
	img.Task("linux/arm64", "blob 333333333333", 0).Done("copied")
	img.Finish("[1/1] nginx:1.27 … copied", nil)
	pw.Close()
	// In a batch the image's line says it all.
	want := "[1/1] nginx:1.27 … copied\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

func TestQuiet(t *testing.T) {
	var out bytes.Buffer
	pw := New(&out, Quiet)
	pw.Expect("g", 1, 10)
	tk := pw.Task("g", "x", 10)
	tk.Add(5)
	tk.Done("copied")
	pw.Logf("note")
	pw.Group("img").Finish("[1/1] img", nil)
	pw.Stop(context.Canceled)
	if out.Len() != 0 {
		t.Errorf("quiet mode wrote %q", out.String())
	}
}

// TestRawJSON reads the stream back as BuildKit's SolveStatus: the groups
// are vertexes, the tasks statuses under them, a message a vertex of its own,
// and the total a vertex with its bytes.
func TestRawJSON(t *testing.T) {
	out := newSyncBuffer()
	pw := New(out, RawJSON)
	pw.Expect("linux/amd64", 1, 100)
	tk := pw.Task("linux/amd64", "blob 444444444444", 100)
	tk.Add(40)
	pw.Logf("a note")
	tk.Done("copied")
	failing := pw.Group("img:2")
	failing.Task("", "blob 555555555555", 7)
	failing.Finish("[2/2] img:2 … failed: boom", errors.New("boom"))
	pw.Close()

	vertexes := map[string]*client.Vertex{}
	statuses := map[string]*client.VertexStatus{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var s client.SolveStatus
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("not a SolveStatus: %v\n%s", err, sc.Text())
		}
		for _, v := range s.Vertexes {
			vertexes[v.Name] = v
		}
		for _, st := range s.Statuses {
			statuses[st.ID] = st
		}
	}
	amd := vertexes["linux/amd64"]
	if amd == nil || amd.Started == nil || amd.Completed == nil || amd.Error != "" {
		t.Fatalf("group vertex %+v in %v", amd, vertexes)
	}
	if st := statuses["blob 444444444444"]; st == nil || st.Vertex != amd.Digest || st.Current != 100 || st.Total != 100 || st.Completed == nil {
		t.Errorf("task status %+v", st)
	}
	if v := vertexes["a note"]; v == nil || v.Completed == nil {
		t.Errorf("message vertex %+v", v)
	}
	if v := vertexes["[2/2] img:2 … failed: boom"]; v == nil || v.Completed == nil {
		t.Errorf("failed group vertex %+v", v)
	}
	if st := statuses["blob 555555555555"]; st == nil || st.Completed == nil {
		t.Errorf("a task of a failed group is left open: %+v", st)
	}
	if v, st := vertexes["total"], statuses["bytes"]; v == nil || v.Completed == nil || st == nil || st.Total != 107 {
		t.Errorf("total vertex %+v, bytes %+v", v, st)
	}
}

func TestRawJSONInterrupted(t *testing.T) {
	out := newSyncBuffer()
	pw := New(out, RawJSON)
	pw.Expect("linux/amd64", 1, 100)
	pw.Task("linux/amd64", "blob 666666666666", 100).Add(10)
	pw.Stop(context.Canceled)
	pw.Stop(nil) // again: nothing
	last := map[string]*client.Vertex{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var s client.SolveStatus
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		for _, v := range s.Vertexes {
			last[v.Name] = v
		}
	}
	if v := last["linux/amd64"]; v == nil || v.Error != context.Canceled.Error() || v.Completed == nil {
		t.Errorf("interrupted group %+v", v)
	}
}

func TestTotalText(t *testing.T) {
	start := time.Unix(1000, 0)
	tt := total{start: start, expected: 200_000_000}
	tt.sample(start)
	tt.done, tt.moved = 50_000_000, 50_000_000
	tt.sample(start.Add(5 * time.Second))
	if got, want := tt.text(start.Add(5*time.Second)), "50MB / 200MB, 10MB/s, ETA 15s"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	tt.done, tt.moved = 200_000_000, 200_000_000
	if got, want := tt.final(start.Add(20*time.Second), nil), "200MB in 20.0s, 10MB/s"; got != want {
		t.Errorf("final %q, want %q", got, want)
	}
	if got, want := tt.final(start.Add(20*time.Second), context.Canceled), "200MB of 200MB"; got != want {
		t.Errorf("final after an interrupt %q, want %q", got, want)
	}
	for d, want := range map[time.Duration]string{300 * time.Millisecond: "1s", 75 * time.Second: "1m15s", 2*time.Hour + 5*time.Minute: "2h5m"} {
		if got := eta(d); got != want {
			t.Errorf("eta(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		s     string
		width int
		want  string
	}{
		{"short line", 60, "short line"},
		{"  copied                 10", 20, "  copied 10"},
		{"one two three four five six seven", 15, "one two three\n  four five six\n  seven"},
		{"sha256:0123456789abcdef0123456789 x", 20, "sha256:0123456789abc\n  def0123456789 x"},
		{"anything at all", 0, "anything at all"},
	} {
		got := Wrap(tc.s, tc.width, "  ")
		if got != tc.want {
			t.Errorf("Wrap(%q, %d) = %q, want %q", tc.s, tc.width, got, tc.want)
		}
		for _, l := range strings.Split(got, "\n") {
			if tc.width > 0 && len([]rune(l)) > tc.width {
				t.Errorf("Wrap(%q, %d) has a line of %d", tc.s, tc.width, len([]rune(l)))
			}
		}
	}
}

func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// TestLogOutput: log lines written while a rawjson view runs, and after it
// stopped, are events of the stream like Logf's; in plain mode they are
// written as they are.
func TestLogOutput(t *testing.T) {
	out := newSyncBuffer()
	pw := New(out, RawJSON)
	log := pw.LogOutput(out)
	if _, err := io.WriteString(log, "level=debug msg=\"one\"\nlevel=debug msg=\"two\"\n"); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if _, err := io.WriteString(log, "level=debug msg=\"after\"\n"); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var s client.SolveStatus
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, line)
		}
		for _, v := range s.Vertexes {
			names[v.Name] = true
		}
	}
	for _, want := range []string{`level=debug msg="one"`, `level=debug msg="two"`, `level=debug msg="after"`} {
		if !names[want] {
			t.Errorf("no event %q in\n%s", want, out.String())
		}
	}

	var plain bytes.Buffer
	pp := New(&plain, Plain)
	defer pp.Close()
	if got := pp.LogOutput(&plain); got != io.Writer(&plain) {
		t.Errorf("plain mode's log output is %T, want stderr itself", got)
	}
}
