package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http/httptest"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// keptBody is a SessionKeeper over bytes in memory that records what the
// upload asked of it.
type keptBody struct {
	*bytes.Reader
	kept     string
	resumed  int64
	keptLast string
	keeps    int
}

func (b *keptBody) Rewind(_ context.Context, off int64) error {
	_, err := b.Seek(off, 0)
	return err
}
func (b *keptBody) KeptSession() string { return b.kept }
func (b *keptBody) ResumeAt(ctx context.Context, off int64) error {
	b.resumed = off
	return b.Rewind(ctx, off)
}
func (b *keptBody) KeepSession(loc string) { b.keptLast, b.keeps = loc, b.keeps+1 }

// A session an earlier run left that the registry no longer knows (or a
// record that is plain wrong) is an ordinary upload, never an error, and the
// record is forgotten once the blob is in.
func TestPutBlobForgottenSession(t *testing.T) {
	s := httptest.NewServer(quiet())
	defer s.Close()
	ctx := context.Background()
	repo, err := openRepo(ctx, New(WithInsecure(func(string) bool { return true })), repoOf(t, hostOf(s), "app"), Push)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, keepSessionOver+12345)
	_, _ = rand.Read(data)
	d, _, _ := v1.SHA256(bytes.NewReader(data))
	for _, kept := range []string{
		s.URL + "/v2/app/blobs/uploads/forgotten-session",
		"http://" + hostOf(s) + "/not/an/upload",
	} {
		body := &keptBody{Reader: bytes.NewReader(data), kept: kept}
		if err := repo.PutBlob(ctx, d, int64(len(data)), body); err != nil {
			t.Fatalf("kept %s: %v", kept, err)
		}
		if body.resumed != 0 {
			t.Errorf("kept %s: resumed at %d in a session the registry does not know", kept, body.resumed)
		}
		if body.keeps == 0 || body.keptLast != "" {
			t.Errorf("kept %s: the record was not forgotten (%d calls, last %q)", kept, body.keeps, body.keptLast)
		}
		if size, ok, err := repo.BlobSize(ctx, d); err != nil || !ok || size != int64(len(data)) {
			t.Errorf("kept %s: the blob is not there whole: %d %v %v", kept, size, ok, err)
		}
	}
}
