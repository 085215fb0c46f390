package progress

import (
	"strings"
	"unicode/utf8"
)

// Wrap breaks s into lines of at most width columns at spaces, continuing
// with indent; a word longer than a line is cut. Width 0 (not a terminal)
// leaves s whole, and so does a line that fits.
func Wrap(s string, width int, indent string) string {
	if width <= len(indent)+8 || utf8.RuneCountInString(s) <= width {
		return s
	}
	var b strings.Builder
	// The first line keeps its own indentation.
	lead := s[:len(s)-len(strings.TrimLeft(s, " "))]
	b.WriteString(lead)
	line := len(lead)
	for i, word := range strings.Fields(s) {
		n := len([]rune(word))
		switch {
		case i == 0:
		case line+1+n <= width:
			b.WriteByte(' ')
			line++
		default:
			b.WriteString("\n" + indent)
			line = len(indent)
		}
		for line+n > width {
			r := []rune(word)
			take := max(width-line, 1)
			b.WriteString(string(r[:take]) + "\n" + indent)
			word, n, line = string(r[take:]), n-take, len(indent)
		}
		b.WriteString(word)
		line += n
	}
	return b.String()
}
