package imagelist

import "strconv"

// Error is bad input: it names the file and the line.
type Error struct {
	File string // the list's path as given, "-" for stdin
	Line int    // 1-based; 0 when the problem is the whole file
	Msg  string // one sentence: what is wrong and what a valid one looks like
}

// Error returns "FILE line N: MSG", or "FILE: MSG" when Line is 0. A File of
// "-" prints as "stdin", which reads better than a lone dash.
func (e *Error) Error() string {
	name := e.File
	if name == "-" {
		name = "stdin"
	}
	if e.Line == 0 {
		return name + ": " + e.Msg
	}
	return name + " line " + strconv.Itoa(e.Line) + ": " + e.Msg
}
