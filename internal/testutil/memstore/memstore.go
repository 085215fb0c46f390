// Package memstore is a store.Store in memory, for unit tests of the planner
// and the copy engine: manifests by tag and digest, blobs by digest, and a
// hook that can block or fail every call, so that a test can cancel or break
// a copy at any step without a server.
package memstore

import (
	"bytes"
	"context"
	"io"
	"sort"
	"sync"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Op names a call of the store.Store interface; ReadBlob is one Read of a
// blob opened with GetBlob.
type Op string

const (
	HeadManifest Op = "HeadManifest"
	GetManifest  Op = "GetManifest"
	PutManifest  Op = "PutManifest"
	BlobExists   Op = "BlobExists"
	GetBlob      Op = "GetBlob"
	ReadBlob     Op = "ReadBlob"
	PutBlob      Op = "PutBlob"
)

// readChunk is the most one Read of a blob hands on, so that a large blob
// takes several reads and a test can stop it in the middle.
const readChunk = 32 << 10

// Store is one repository in memory. The zero value is not usable: call New.
type Store struct {
	name string
	// Hook, when set, runs before every call with its operation and the tag or
	// digest it concerns; an error it returns is the call's. It may block
	// (waiting for ctx, say) to hold a copy at that step.
	Hook func(ctx context.Context, op Op, ref string) error

	mu        sync.Mutex
	manifests map[v1.Hash]manifest
	tags      map[string]v1.Hash
	blobs     map[v1.Hash][]byte
}

type manifest struct {
	mt   types.MediaType
	body []byte
}

// New is an empty store named name in messages.
func New(name string) *Store {
	return &Store{name: name, manifests: map[v1.Hash]manifest{}, tags: map[string]v1.Hash{}, blobs: map[v1.Hash][]byte{}}
}

var _ store.Store = (*Store)(nil)

func (s *Store) String() string { return s.name }

// hook fails a call made with an ended ctx, as a real store does, then asks
// Hook. A Hook that cancels and returns nil lets this call succeed and the
// next ones fail.
func (s *Store) hook(ctx context.Context, op Op, ref string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return runHook(ctx, s.Hook, op, ref)
}

// runHook asks h, when set, about a call.
func runHook(ctx context.Context, h func(context.Context, Op, string) error, op Op, ref string) error {
	if h != nil {
		return h(ctx, op, ref)
	}
	return nil
}

// lookup resolves a tag or digest to a digest.
func (s *Store) lookup(ref string) (v1.Hash, manifest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := v1.NewHash(ref)
	if err != nil {
		var ok bool
		if d, ok = s.tags[ref]; !ok {
			return v1.Hash{}, manifest{}, false
		}
	}
	m, ok := s.manifests[d]
	return d, m, ok
}

func (s *Store) HeadManifest(ctx context.Context, ref string) (v1.Descriptor, error) {
	if err := s.hook(ctx, HeadManifest, ref); err != nil {
		return v1.Descriptor{}, err
	}
	d, m, ok := s.lookup(ref)
	if !ok {
		return v1.Descriptor{}, errdefs.New(errdefs.NotFound, "manifest %s not found in %s", ref, s.name)
	}
	return v1.Descriptor{MediaType: m.mt, Digest: d, Size: int64(len(m.body))}, nil
}

func (s *Store) GetManifest(ctx context.Context, ref string) ([]byte, v1.Descriptor, error) {
	if err := s.hook(ctx, GetManifest, ref); err != nil {
		return nil, v1.Descriptor{}, err
	}
	d, m, ok := s.lookup(ref)
	if !ok {
		return nil, v1.Descriptor{}, errdefs.New(errdefs.NotFound, "manifest %s not found in %s", ref, s.name)
	}
	return bytes.Clone(m.body), v1.Descriptor{MediaType: m.mt, Digest: d, Size: int64(len(m.body))}, nil
}

func (s *Store) PutManifest(ctx context.Context, ref string, mt types.MediaType, body []byte) error {
	if err := s.hook(ctx, PutManifest, ref); err != nil {
		return err
	}
	s.Put(ref, mt, body)
	return nil
}

func (s *Store) BlobExists(ctx context.Context, d v1.Hash) (bool, error) {
	if err := s.hook(ctx, BlobExists, d.String()); err != nil {
		return false, err
	}
	_, ok := s.Blob(d)
	return ok, nil
}

// BlobSize is the size of blob d, as a registry's HEAD says it.
func (s *Store) BlobSize(ctx context.Context, d v1.Hash) (int64, bool, error) {
	if err := s.hook(ctx, BlobExists, d.String()); err != nil {
		return 0, false, err
	}
	b, ok := s.Blob(d)
	return int64(len(b)), ok, nil
}

func (s *Store) GetBlob(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
	if err := s.hook(ctx, GetBlob, d.String()); err != nil {
		return nil, err
	}
	b, ok := s.Blob(d)
	if !ok {
		return nil, errdefs.New(errdefs.NotFound, "blob %s not found in %s", d, s.name)
	}
	return &reader{ctx: ctx, hook: s.hook, ref: d.String(), rc: io.NopCloser(bytes.NewReader(b))}, nil
}

// reader runs the hook before each Read, and hands on at most readChunk.
type reader struct {
	ctx  context.Context
	hook func(context.Context, Op, string) error
	ref  string
	rc   io.ReadCloser
}

func (r *reader) Read(p []byte) (int, error) {
	if err := runHook(r.ctx, r.hook, ReadBlob, r.ref); err != nil {
		return 0, err
	}
	return r.rc.Read(p[:min(len(p), readChunk)])
}

func (r *reader) Close() error { return r.rc.Close() }

// PutBlob keeps body as blob d only when it is read to its end and matches
// d and size, as a registry does.
func (s *Store) PutBlob(ctx context.Context, d v1.Hash, size int64, body io.Reader) error {
	if err := s.hook(ctx, PutBlob, d.String()); err != nil {
		return err
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(b)); got != d || int64(len(b)) != size {
		return errdefs.New(errdefs.DigestMismatch, "%s: blob %s: got %d bytes with digest %s", s.name, d, len(b), got)
	}
	s.mu.Lock()
	s.blobs[d] = b
	s.mu.Unlock()
	return nil
}

// Put stores a manifest under ref (a tag, or its digest) without the hook.
func (s *Store) Put(ref string, mt types.MediaType, body []byte) v1.Descriptor {
	d, n, _ := v1.SHA256(bytes.NewReader(body))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.manifests[d] = manifest{mt: mt, body: bytes.Clone(body)}
	if ref != "" && ref != d.String() {
		s.tags[ref] = d
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: n}
}

// AddBlob stores data as a blob without the hook and describes it.
func (s *Store) AddBlob(mt types.MediaType, data []byte) v1.Descriptor {
	d, n, _ := v1.SHA256(bytes.NewReader(data))
	s.mu.Lock()
	s.blobs[d] = bytes.Clone(data)
	s.mu.Unlock()
	return v1.Descriptor{MediaType: mt, Digest: d, Size: n}
}

// Blob is blob d, if the store has it.
func (s *Store) Blob(d v1.Hash) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[d]
	return b, ok
}

// Manifest is the manifest ref names, if the store has it.
func (s *Store) Manifest(ref string) ([]byte, bool) {
	_, m, ok := s.lookup(ref)
	return m.body, ok
}

// Blobs lists the digests of the blobs the store holds.
func (s *Store) Blobs() []v1.Hash {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]v1.Hash, 0, len(s.blobs))
	for d := range s.blobs {
		out = append(out, d)
	}
	return out
}

// Tags lists the tags, sorted.
func (s *Store) Tags() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tags))
	for t := range s.tags {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Counts is how many manifests and blobs the store holds.
func (s *Store) Counts() (manifests, blobs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.manifests), len(s.blobs)
}
