package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"text/template"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/templates"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sirupsen/logrus"

	"github.com/docker-migrate/docker-migrate/internal/check"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/progress"
)

// formatJSON is --format json: one compact JSON object per image and line, as
// docker's --format json prints them.
const formatJSON = "json"

// printer puts each image's result on stdout as --format asks, and keeps them
// for --metadata-file.
type printer struct {
	format string
	// tmpl is a --format Go template ('{{.DestinationDigest}}').
	tmpl *template.Template
	out  io.Writer

	// keep holds the results for --metadata-file; without it a batch of
	// 10,000 images would hold every result (and its plan) to the end.
	keep    bool
	mu      sync.Mutex
	results []*migrate.Result
	// checks are --check's verdicts, which --metadata-file holds instead.
	checks []*check.Result
}

// newPrinter checks --format: "" (DST@DIGEST), json, or a Go template with
// docker's template functions.
func newPrinter(format string, out io.Writer) (*printer, error) {
	p := &printer{format: format, out: out, keep: true}
	switch strings.TrimSpace(format) {
	case "":
		p.format = ""
	case formatJSON, "{{json .}}":
		p.format = formatJSON
	default:
		if !strings.Contains(format, "{{") {
			// A word such as "yaml" or a typo of "json" would otherwise be a
			// template that prints itself once per image.
			return nil, fmt.Errorf("invalid --format %q: give json, or a Go template such as '{{.DestinationDigest}}'", format)
		}
		t, err := templates.Parse(format)
		if err != nil {
			return nil, fmt.Errorf("invalid --format %q: %v; use json or a Go template such as '{{.DestinationDigest}}'", format, err)
		}
		// A field that does not exist fails here rather than after the copy.
		if err := t.Execute(io.Discard, &migrate.Result{}); err != nil && strings.Contains(err.Error(), "can't evaluate field") {
			return nil, fmt.Errorf("invalid --format %q: %v; the fields are %s", format, templateError(err), strings.Join(resultFields(), ", "))
		}
		p.tmpl = t
	}
	return p, nil
}

// resultFields lists what a --format template can name: the exported fields
// of the result, as {{.Name}}.
func resultFields() []string {
	var fields []string
	t := reflect.TypeOf(migrate.Result{})
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			fields = append(fields, "."+f.Name)
		}
	}
	return fields
}

// templateError keeps the part of a template error a user can act on.
func templateError(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "executing") {
		return s[i+2:]
	}
	return s
}

// print prints one image's result: arrived (or planned, in a dry run), or,
// when res.Error is set, not. dst is the destination as the user reads it.
// Plain output names only images that arrived; json prints every image;
// a template prints the ones that arrived.
func (p *printer) print(res *migrate.Result, dst string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keep {
		kept := *res
		kept.Plan = nil // the manifests' bodies: not in the JSON
		p.results = append(p.results, &kept)
	}
	failed := res.Error != ""
	switch {
	case p.format == formatJSON:
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.out, "%s\n", b)
		return err
	case failed:
		return nil
	case p.tmpl != nil:
		var b strings.Builder
		if err := p.tmpl.Execute(&b, res); err != nil {
			return fmt.Errorf("--format: %v", templateError(err))
		}
		_, err := fmt.Fprintln(p.out, b.String())
		return err
	case res.DryRun:
		return nil
	}
	_, err := fmt.Fprintf(p.out, "%s@%s\n", withoutDigest(dst), res.DestinationDigest)
	return err
}

// withoutDigest drops the digest a destination named by digest only ends
// with (REPO@sha256:…, from a digest-only SRC), so that DST@DIGEST names the
// digest once: the one that arrived.
func withoutDigest(dst string) string {
	if i := strings.LastIndex(dst, "@"); i >= 0 {
		if _, err := v1.NewHash(dst[i+1:]); err == nil {
			return dst[:i]
		}
	}
	return dst
}

// printCheck prints one image's --check verdict: "STATUS DST@DIGEST", or with
// --format json the verdict as one JSON line.
func (p *printer) printCheck(res *check.Result, dst string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keep {
		p.checks = append(p.checks, res)
	}
	if p.format == formatJSON {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.out, "%s\n", b)
		return err
	}
	if res.DestinationDigest == "" {
		// Nothing there to name by digest: the reference alone.
		_, err := fmt.Fprintf(p.out, "%s %s\n", res.Status, dst)
		return err
	}
	_, err := fmt.Fprintf(p.out, "%s %s@%s\n", res.Status, withoutDigest(dst), res.DestinationDigest)
	return err
}

// writeMetadata writes --metadata-file: the result as --format json has it,
// indented; several images (a batch) as a JSON array. It is written on
// failure too, and replaced whole: a reader never sees half a file.
func (p *printer) writeMetadata(path string, several bool) error {
	if path == "" {
		return nil
	}
	p.mu.Lock()
	var v any = p.results
	if p.checks != nil {
		v = p.checks
	} else if !several && len(p.results) == 1 {
		v = p.results[0]
	} else if p.results == nil {
		v = []*migrate.Result{}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	p.mu.Unlock()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write the metadata file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write the metadata file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the metadata file %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// progressOut is where the progress display goes: the terminal's own file
// for tty (BuildKit's display needs it), else the CLI's stderr stream.
func progressOut(dockerCli command.Cli, mode progress.Mode) io.Writer {
	if mode == progress.TTY && dockerCli.Err().IsTerminal() {
		return os.Stderr
	}
	return dockerCli.Err()
}

// logThrough sends logrus's lines (-D's detail, warnings) through pw's view
// until the returned func is called: a line printed on its own would break
// the terminal's view or the JSON lines of rawjson. Plain runs are unchanged.
func logThrough(pw *progress.Writer) (restore func()) {
	prev := logrus.StandardLogger().Out
	logrus.SetOutput(pw.LogOutput(prev))
	return func() { logrus.SetOutput(prev) }
}

// terminalWidth is stderr's width, or 0 when it is not a terminal.
func terminalWidth(dockerCli command.Cli) int {
	if !dockerCli.Err().IsTerminal() {
		return 0
	}
	_, w := dockerCli.Err().GetTtySize()
	return int(w)
}
