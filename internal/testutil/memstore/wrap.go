package memstore

import (
	"context"
	"io"

	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Wrap puts hook in front of every call of inner (an archive's store, say),
// as Store.Hook does for a Store; whether an ended ctx fails a call is left
// to inner, as it is in the program.
func Wrap(inner store.Store, hook func(ctx context.Context, op Op, ref string) error) store.Store {
	return &wrapped{inner: inner, hook: hook}
}

type wrapped struct {
	inner store.Store
	hook  func(context.Context, Op, string) error
}

func (w *wrapped) String() string { return w.inner.String() }

func (w *wrapped) HeadManifest(ctx context.Context, ref string) (v1.Descriptor, error) {
	if err := runHook(ctx, w.hook, HeadManifest, ref); err != nil {
		return v1.Descriptor{}, err
	}
	return w.inner.HeadManifest(ctx, ref)
}

func (w *wrapped) GetManifest(ctx context.Context, ref string) ([]byte, v1.Descriptor, error) {
	if err := runHook(ctx, w.hook, GetManifest, ref); err != nil {
		return nil, v1.Descriptor{}, err
	}
	return w.inner.GetManifest(ctx, ref)
}

func (w *wrapped) PutManifest(ctx context.Context, ref string, mt types.MediaType, body []byte) error {
	if err := runHook(ctx, w.hook, PutManifest, ref); err != nil {
		return err
	}
	return w.inner.PutManifest(ctx, ref, mt, body)
}

func (w *wrapped) BlobExists(ctx context.Context, d v1.Hash) (bool, error) {
	if err := runHook(ctx, w.hook, BlobExists, d.String()); err != nil {
		return false, err
	}
	return w.inner.BlobExists(ctx, d)
}

func (w *wrapped) GetBlob(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
	if err := runHook(ctx, w.hook, GetBlob, d.String()); err != nil {
		return nil, err
	}
	rc, err := w.inner.GetBlob(ctx, d)
	if err != nil {
		return nil, err
	}
	return &reader{ctx: ctx, hook: w.hook, ref: d.String(), rc: rc}, nil
}

func (w *wrapped) PutBlob(ctx context.Context, d v1.Hash, size int64, body io.Reader) error {
	if err := runHook(ctx, w.hook, PutBlob, d.String()); err != nil {
		return err
	}
	return w.inner.PutBlob(ctx, d, size, body)
}
