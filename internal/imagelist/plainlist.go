package imagelist

import (
	"fmt"
	"strings"
)

// parsePlainList reads one `SRC [DST]` a line, the format of k3s-images.txt
// and of the images.txt that batch scripts loop over.
func parsePlainList(file string, data []byte) ([]Entry, error) {
	var entries []Entry
	lineNo := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		lineNo++
		fields := strings.Fields(stripComment(line))
		switch len(fields) {
		case 0:
			continue
		case 1, 2:
		default:
			return nil, &Error{File: file, Line: lineNo, Msg: fmt.Sprintf(
				"the line has %d fields; write SRC or SRC DST separated by spaces, e.g. nginx:1.27 harbor.lan/mirror/nginx:1.27", len(fields))}
		}
		entry := Entry{File: file, Line: lineNo, Source: fields[0]}
		if len(fields) == 2 {
			entry.Target = fields[1]
		}
		if _, msg := parseLocation(entry.Source); msg != "" {
			return nil, &Error{File: file, Line: lineNo, Msg: "source " + msg}
		}
		if entry.Target != "" {
			if _, msg := parseLocation(entry.Target); msg != "" {
				return nil, &Error{File: file, Line: lineNo, Msg: "target " + msg}
			}
		}
		entries = append(entries, entry)
	}
	if len(entries) == 0 {
		return nil, &Error{File: file, Msg: "the list has no images; write one reference a line, e.g. " + referenceExample}
	}
	return entries, nil
}

// stripComment cuts a line at a '#' that starts it or follows whitespace. A
// '#' inside a word is left alone: no valid reference holds one, so the
// reference check reports it rather than silently dropping half an entry.
func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i]
		}
	}
	return line
}
