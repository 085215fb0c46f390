package imagelist

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// entryView is an Entry with its filter as text, so tests compare with ==
// rather than reaching into compiled regexps.
type entryView struct {
	Line       int
	Source     string
	Target     string
	Repository bool
	Tags       string
	Platforms  []string
}

func view(t *testing.T, file string, entries []Entry) []entryView {
	t.Helper()
	var out []entryView
	for _, e := range entries {
		if e.File != file {
			t.Errorf("entry on line %d has File %q, want %q", e.Line, e.File, file)
		}
		tags := ""
		if !e.Tags.Empty() {
			tags = e.Tags.String()
		}
		out = append(out, entryView{Line: e.Line, Source: e.Source, Target: e.Target, Repository: e.Repository, Tags: tags, Platforms: e.Platforms})
	}
	return out
}

func checkEntries(t *testing.T, file string, got []Entry, want []entryView) {
	t.Helper()
	if gotView := view(t, file, got); !reflect.DeepEqual(gotView, want) {
		t.Errorf("entries:\n got %+v\nwant %+v", gotView, want)
	}
}

// checkError asserts err is an *Error for file on line that contains msg.
func checkError(t *testing.T, err error, file string, line int, msg string) {
	t.Helper()
	var listErr *Error
	if !errors.As(err, &listErr) {
		t.Fatalf("error = %v (%T), want *Error", err, err)
	}
	if listErr.File != file || listErr.Line != line {
		t.Errorf("error at %s line %d, want %s line %d: %v", listErr.File, listErr.Line, file, line, err)
	}
	if !strings.Contains(listErr.Msg, msg) {
		t.Errorf("error message %q does not contain %q", listErr.Msg, msg)
	}
}
