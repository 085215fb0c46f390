//go:build !windows

package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// stdoutRefs are the references a run printed, one a line.
func stdoutRefs(r Result) []string { return strings.Fields(r.Stdout) }

// stderrLines returns the non-empty lines of stderr.
func stderrLines(res Result) []string {
	var out []string
	for l := range strings.SplitSeq(res.Stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// assertNoLine fails if a stderr line contains s.
func assertNoLine(t testing.TB, res Result, s string) {
	t.Helper()
	for _, l := range stderrLines(res) {
		if strings.Contains(l, s) {
			t.Errorf("stderr has %q, and should not:\n%s", l, res)
		}
	}
}

// assertOneLineError checks the shape of a failure: nothing on stdout, and on
// stderr one sentence, last (after what plain progress said had started).
// Usage errors (125) may add docker's "See '... --help'." line.
func assertOneLineError(t testing.TB, res Result) {
	t.Helper()
	if res.Stdout != "" {
		t.Errorf("a failure wrote on stdout:\n%s", res)
	}
	lines := strings.Split(strings.TrimRight(res.Stderr, "\n"), "\n")
	if res.ExitCode == 125 && len(lines) >= 2 && strings.HasPrefix(lines[len(lines)-1], "See '") {
		lines = lines[:len(lines)-1]
	}
	// Plain progress (the default when stderr is not a terminal) says what
	// started before the failure; the failure itself is the last line, one
	// sentence, and said once.
	last := lines[len(lines)-1]
	if last == "" {
		t.Errorf("stderr ends with no sentence:\n%s", res)
	}
	for _, l := range lines[:len(lines)-1] {
		if l == last || strings.Contains(strings.ToLower(l), "error") {
			t.Errorf("stderr has a line besides the failure's sentence that reads like an error: %q\n%s", l, res)
		}
	}
}

// assertUsageSentence checks the shape of a refusal: nothing on stdout, and on
// stderr one sentence and nothing else but docker's "See '... --help'." line.
func assertUsageSentence(t testing.TB, res Result) {
	t.Helper()
	if res.Stdout != "" {
		t.Errorf("stdout is not empty: %q", res.Stdout)
	}
	lines := strings.Split(strings.TrimRight(res.Stderr, "\n"), "\n")
	if len(lines) == 2 && strings.HasPrefix(lines[1], "See '") {
		lines = lines[:1]
	}
	if len(lines) != 1 || strings.TrimSpace(lines[0]) == "" {
		t.Errorf("want one sentence (and the --help hint at most), got %d lines:\n%s", len(lines), res.Stderr)
	}
}

// assertResultLine checks that stdout is exactly "DST@DIGEST\n".
func assertResultLine(t testing.TB, res Result, dst string, digest v1.Hash) {
	t.Helper()
	if want := dst + "@" + digest.String() + "\n"; res.Stdout != want {
		t.Errorf("stdout %q, want %q\n%s", res.Stdout, want, res)
	}
}

// resultDigest parses the digest out of a "DST@DIGEST" stdout line.
func resultDigest(t testing.TB, res Result, dst string) v1.Hash {
	t.Helper()
	line, ok := strings.CutSuffix(res.Stdout, "\n")
	rest, found := strings.CutPrefix(line, dst+"@")
	if !ok || !found || strings.Contains(rest, "\n") {
		t.Fatalf("stdout is not one line %s@DIGEST:\n%s", dst, res)
	}
	d, err := v1.NewHash(rest)
	if err != nil {
		t.Fatalf("stdout %q: %v", res.Stdout, err)
	}
	return d
}

// hashOf parses a digest of the JSON output.
func hashOf(t testing.TB, digest string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(digest)
	if err != nil {
		t.Fatalf("digest %q: %v", digest, err)
	}
	return h
}

// jsonResult is the part of --format json these tests read.
type jsonResult struct {
	Source            string `json:"source"`
	Destination       string `json:"destination"`
	SourceDigest      string `json:"sourceDigest"`
	DestinationDigest string `json:"destinationDigest"`
	DryRun            bool   `json:"dryRun"`
	PreviousDigest    string `json:"previousDigest"`
	Error             string `json:"error"`
	Attempts          []struct {
		Strategy, Outcome, Reason string
	} `json:"attempts"`
	Plan *struct {
		Manifests []struct {
			Digest, Action, Tag string
			Size                int64
		} `json:"manifests"`
		Blobs []struct {
			Digest, Action, Platform string
			Size                     int64
		} `json:"blobs"`
	} `json:"plan"`
}

// jsonLines parses stdout as one compact JSON object per line.
func jsonLines(t *testing.T, res Result) []jsonResult {
	t.Helper()
	var out []jsonResult
	for _, line := range strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n") {
		var r jsonResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("stdout line is not one JSON object: %v\n%s", err, res)
		}
		if strings.HasPrefix(line, "{\n") || strings.Contains(line, "\n  ") {
			t.Errorf("JSON is indented, want one compact line: %q", line)
		}
		out = append(out, r)
	}
	return out
}

// buildxReport is the part of --format json the buildx tests look at beyond
// migrateReport.
type buildxReport struct {
	ContentVerified *bool  `json:"contentVerified"`
	DigestNote      string `json:"digestNote"`
}

func parseBuildxReport(t *testing.T, res Result) (migrateReport, buildxReport) {
	t.Helper()
	r := parseReport(t, res)
	var extra buildxReport
	if err := json.Unmarshal([]byte(res.Stdout), &extra); err != nil {
		t.Fatal(err)
	}
	return r, extra
}
