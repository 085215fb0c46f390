package indexstrategy

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/uploadsession"
)

// A run cut off keeps the session with the hash states it read; the next
// reads the source from the last state at or before what the registry holds
// (a Range request, or the whole blob where the source ignores Range), hands
// on only the rest, and checks the digest over the whole blob.
func TestBlobReaderResumesEarlierRun(t *testing.T) {
	data, d := blobOf(t, 5<<20+321)
	size := int64(len(data))
	held := int64(3<<20 + 4567)
	for _, ranges := range []bool{true, false} {
		store := uploadsession.Open(t.TempDir())
		session := func() *keptSession {
			k := &keptSession{store: store, repository: "reg.test/app"}
			k.found, k.ok = store.Find(k.repository, d)
			return k
		}

		first := newTestReader(&flakySource{data: data, ranges: true}, d, size)
		first.session = session()
		if _, err := io.ReadFull(first, make([]byte, 4<<20+10)); err != nil {
			t.Fatal(err)
		}
		first.KeepSession("http://reg.test/v2/app/blobs/uploads/u1?_state=x")

		src := &flakySource{data: data, ranges: ranges}
		next := newTestReader(src, d, size)
		next.session = session()
		if got := next.KeptSession(); got != "http://reg.test/v2/app/blobs/uploads/u1?_state=x" {
			t.Fatalf("ranges %v: kept session %q", ranges, got)
		}
		if err := next.ResumeAt(context.Background(), held); err != nil {
			t.Fatal(err)
		}
		rest, err := readAll(next)
		if err != nil {
			t.Fatalf("ranges %v: %v", ranges, err)
		}
		if !bytes.Equal(rest, data[held:]) || next.Verified() != nil {
			t.Fatalf("ranges %v: handed on %d bytes (verified: %v), want the %d after %d", ranges, len(rest), next.Verified(), size-held, held)
		}
		want := []int64{3 << 20}
		if !ranges {
			want = []int64{0}
		}
		if !slices.Equal(src.opens, want) {
			t.Errorf("ranges %v: downloads started at %v, want %v", ranges, src.opens, want)
		}
		next.KeepSession("")
		if _, ok := store.Find("reg.test/app", d); ok {
			t.Errorf("ranges %v: the session is still kept after the blob arrived", ranges)
		}
	}
}

// A registry that holds the whole blob from an earlier run (only the commit
// was lost) gets nothing more; the blob is still read and checked.
func TestBlobReaderResumeAtTheEnd(t *testing.T) {
	data, d := blobOf(t, 2<<20+99)
	store := uploadsession.Open(t.TempDir())
	first := newTestReader(&flakySource{data: data, ranges: true}, d, int64(len(data)))
	first.session = &keptSession{store: store, repository: "reg.test/app"}
	if _, err := readAll(first); err != nil {
		t.Fatal(err)
	}
	first.KeepSession("http://reg.test/u")
	next := newTestReader(&flakySource{data: data, ranges: true}, d, int64(len(data)))
	next.session = &keptSession{store: store, repository: "reg.test/app"}
	next.session.found, next.session.ok = store.Find("reg.test/app", d)
	if err := next.ResumeAt(context.Background(), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rest, err := readAll(next)
	if err != nil || len(rest) != 0 || next.Verified() != nil {
		t.Fatalf("at the end: %d bytes handed on (%v), verified %v", len(rest), err, next.Verified())
	}
}

// A resumed upload whose kept hash states are wrong fails the digest check:
// the states are a hint about the source, never trusted over it.
func TestBlobReaderResumeWrongState(t *testing.T) {
	data, d := blobOf(t, 3<<20)
	other, _ := blobOf(t, 2<<20)
	other[0] ^= 1
	store := uploadsession.Open(t.TempDir())
	wrong := newTestReader(&flakySource{data: other, ranges: true}, d, int64(len(other)))
	wrong.session = &keptSession{store: store, repository: "reg.test/app"}
	if _, err := io.ReadFull(wrong, make([]byte, 1<<20+1)); err != nil {
		t.Fatal(err)
	}
	wrong.size = int64(len(data))
	wrong.KeepSession("http://reg.test/u")

	next := newTestReader(&flakySource{data: data, ranges: true}, d, int64(len(data)))
	next.session = &keptSession{store: store, repository: "reg.test/app"}
	next.session.found, next.session.ok = store.Find("reg.test/app", d)
	if err := next.ResumeAt(context.Background(), 2<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(next); err == nil {
		t.Fatal("a blob hashed from a wrong kept state was accepted")
	}
}

func TestThinMarks(t *testing.T) {
	var marks []uploadsession.Mark
	for i := range 200 {
		marks = append(marks, uploadsession.Mark{Offset: int64(i+1) << 20})
	}
	got := thin(marks, 64)
	if len(got) != 64 || got[63].Offset != 200<<20 {
		t.Fatalf("thin kept %d marks, the last at %d; want 64, the last at %d", len(got), got[len(got)-1].Offset, 200<<20)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Offset <= got[i-1].Offset {
			t.Fatalf("thin marks out of order: %v", got)
		}
	}
}
