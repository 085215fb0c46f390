// Package outcome names what became of one image in a run: a copy's end
// (copied, up to date, failed, not done) and --check's verdict (equal,
// missing, ...) are one kind of value, which the report file, the summary
// table, the progress lines and --format json all write.
package outcome

// Outcome is what became of one image.
type Outcome string

// Outcomes of a copy.
const (
	Copied   Outcome = "copied"
	UpToDate Outcome = "up-to-date"
	// Done means an earlier run with the same --report copied it and the
	// destination still serves that digest: nothing was read or written.
	Done   Outcome = "done-earlier"
	Failed Outcome = "failed"
	// NotDone is an image not started (a rate limit that would take too long to
	// sit out, --fail-fast, an interrupt): a re-run picks it up.
	NotDone Outcome = "not-done"
	// NotSigned is an image --verify-key kept out: no signature by any of the
	// keys over its digest (at the source; at the destination with --check).
	NotSigned Outcome = "not-signed"
)

// Outcomes of --check, which writes nothing: the mirror is equal to the
// source, has the same content under another digest, lacks something, or
// differs.
const (
	Equal Outcome = "equal" // the same digest, every child and blob present
	// SameContent is a different digest with every platform's layers the same.
	SameContent Outcome = "same-content"
	Missing     Outcome = "missing"   // the tag, a platform, a manifest or a blob is not there
	Different   Outcome = "different" // a platform's layers differ
)

// Arrived reports an outcome after which the destination has the image,
// whole and pullable: copied, found there, or (--check) equal or the same
// content.
func (o Outcome) Arrived() bool {
	switch o {
	case Copied, UpToDate, Done, Equal, SameContent:
		return true
	}
	return false
}
