package buildx

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/progress"
)

// The strategy runs buildx with --progress rawjson: BuildKit's progress
// stream, one SolveStatus per line on stderr, and buildx's own messages
// (warnings, the final ERROR) as plain lines among them. The stream is shown
// through the same progress.Writer as the other strategies, so --progress
// tty, plain and quiet look alike whatever the strategy, and the plain lines
// are kept to explain a failure in one sentence.

// solveStatus is the part of BuildKit's client.SolveStatus the display uses.
type solveStatus struct {
	Vertexes []struct {
		Digest    string     `json:"digest"`
		Name      string     `json:"name"`
		Started   *time.Time `json:"started"`
		Completed *time.Time `json:"completed"`
		Cached    bool       `json:"cached"`
		Error     string     `json:"error"`
	} `json:"vertexes"`
	Statuses []struct {
		ID        string     `json:"id"`
		Vertex    string     `json:"vertex"`
		Total     int64      `json:"total"`
		Current   int64      `json:"current"`
		Completed *time.Time `json:"completed"`
	} `json:"statuses"`
	Logs []struct {
		Vertex string `json:"vertex"`
		Data   []byte `json:"data"`
	} `json:"logs"`
	Warnings []struct {
		Short []byte `json:"short"`
	} `json:"warnings"`
}

// buildDisplay turns the rawjson stream into progress tasks: one group per
// platform ("[linux/arm64 1/1] FROM …"), "build" for BuildKit's internal steps
// and "export" for the push.
type buildDisplay struct {
	pw     *progress.Writer
	debugf func(format string, args ...any)
	// single is the platform of a one-platform build, whose steps BuildKit
	// does not prefix with it ("[1/1] FROM …").
	single string

	vertexes map[string]*vertexTask
	statuses map[string]*statusTask
	// messages are buildx's lines that are not progress.
	messages []string
	// vertexErrors are the errors BuildKit reported on steps.
	vertexErrors []string
}

type vertexTask struct {
	group string
	task  *progress.Task
	done  bool
}

type statusTask struct {
	task    *progress.Task
	current int64
	done    bool
}

func newBuildDisplay(pw *progress.Writer, debugf func(string, ...any), platforms []string) *buildDisplay {
	d := &buildDisplay{pw: pw, debugf: debugf, vertexes: map[string]*vertexTask{}, statuses: map[string]*statusTask{}}
	if len(platforms) == 1 {
		d.single = platforms[0]
	}
	return d
}

// consume reads r (buildx's stderr) to its end.
func (d *buildDisplay) consume(r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			d.line(line)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (d *buildDisplay) line(b []byte) {
	b = bytes.TrimRight(b, "\r\n")
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	var ss solveStatus
	if b[0] != '{' || json.Unmarshal(b, &ss) != nil {
		d.messages = append(d.messages, string(b))
		d.debugf("buildx: %s", b)
		return
	}
	for _, v := range ss.Vertexes {
		vt := d.vertexes[v.Digest]
		if vt == nil {
			if v.Started == nil && v.Completed == nil {
				continue // not started yet: nothing to show
			}
			group, name := splitVertexName(v.Name)
			if group == "" {
				group = d.single
			}
			if group == "" {
				group = "build"
			}
			vt = &vertexTask{group: group, task: d.pw.Task(group, name, 0)}
			d.vertexes[v.Digest] = vt
		}
		if v.Error != "" {
			d.vertexErrors = append(d.vertexErrors, v.Error)
		}
		if v.Completed == nil || vt.done {
			continue
		}
		vt.done = true
		switch {
		case v.Error != "":
			vt.task.Done("failed")
		case v.Cached:
			vt.task.Done("cached")
		default:
			vt.task.Done("done")
		}
	}
	for _, s := range ss.Statuses {
		key := s.Vertex + "\x00" + s.ID
		st := d.statuses[key]
		if st == nil {
			// Byte counts (pulls, uploads) and pushes are worth a line; the
			// exporter's per-manifest bookkeeping is not.
			if s.Total <= 0 && !strings.HasPrefix(s.ID, "pushing") {
				continue
			}
			group := "export"
			if vt := d.vertexes[s.Vertex]; vt != nil {
				group = vt.group
			}
			st = &statusTask{task: d.pw.Task(group, shortenDigests(s.ID), s.Total)}
			d.statuses[key] = st
		}
		if s.Current > st.current {
			st.task.Add(s.Current - st.current)
			st.current = s.Current
		}
		if s.Completed != nil && !st.done {
			st.done = true
			st.task.Done("done")
		}
	}
	for _, l := range ss.Logs {
		d.debugf("buildkit: %s", bytes.TrimRight(l.Data, "\n"))
	}
	for _, w := range ss.Warnings {
		d.pw.Logf("warning from BuildKit: %s", bytes.TrimSpace(w.Short))
	}
}

// finish marks what BuildKit left open as done, after a successful build.
func (d *buildDisplay) finish() {
	for _, vt := range d.vertexes {
		if !vt.done {
			vt.done = true
			vt.task.Done("done")
		}
	}
	for _, st := range d.statuses {
		if !st.done {
			st.done = true
			st.task.Done("done")
		}
	}
}

var (
	vertexName = regexp.MustCompile(`^\[([^\]]*)\]\s*(.*)$`)
	longDigest = regexp.MustCompile(`(sha256:[0-9a-f]{12})[0-9a-f]{52}`)
)

// splitVertexName reads BuildKit's "[linux/arm64 1/1] FROM …" into the group
// (the platform) and the step. A stage step without a platform ("[1/1] FROM",
// in a one-platform build) has no group: the caller knows the platform.
func splitVertexName(name string) (group, step string) {
	name = shortenDigests(name)
	m := vertexName.FindStringSubmatch(name)
	if m == nil {
		if strings.HasPrefix(name, "exporting") || strings.HasPrefix(name, "pushing") {
			return "export", name
		}
		return "build", name
	}
	step = m[2]
	first, _, _ := strings.Cut(m[1], " ")
	switch {
	case first == "internal":
		return "build", step
	case isPlatform(first):
		return first, step
	}
	return "", step
}

// isPlatform tells "linux/arm64" from a step counter such as "1/1".
func isPlatform(s string) bool {
	_, err := platforms.Parse(s)
	return err == nil && s[0] >= 'a' && s[0] <= 'z'
}

func shortenDigests(s string) string { return longDigest.ReplaceAllString(s, "$1") }

// errorText is buildx's own account of the failure: from its last "ERROR:"
// line to the end, else BuildKit's step errors, else everything it said.
func (d *buildDisplay) errorText() string {
	for i := len(d.messages) - 1; i >= 0; i-- {
		if rest, ok := strings.CutPrefix(d.messages[i], "ERROR: "); ok {
			return strings.Join(append([]string{rest}, d.messages[i+1:]...), "\n")
		}
	}
	if len(d.vertexErrors) > 0 {
		return d.vertexErrors[len(d.vertexErrors)-1]
	}
	return strings.Join(d.messages, "\n")
}
