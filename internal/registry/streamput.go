package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// PutBlobStream uploads a blob whose digest and size are known only once
// body has ended (store.StreamPutter): a layer compressed as an engine's save
// streams. The rules of PutBlob hold where a body read once allows: a blob of
// store.SmallBlobSize or less goes in the committing PUT; a larger one in one
// PATCH of unknown length (chunked, the spec's streamed upload, as `docker
// push` sends layers), then the PUT ?digest= with the digest counted on the
// way. A PATCH that breaks or stalls cannot be resumed, since the bytes sent
// are gone: the session is cancelled and the blob fails, and the run can be
// repeated. Nothing is committed unless body was read to its end without
// error (and, when it is a store.Verifier, checked).
func (r *Repository) PutBlobStream(ctx context.Context, mt types.MediaType, body io.Reader) (v1.Descriptor, error) {
	type session struct {
		loc string
		err error
	}
	opened := make(chan session, 1)
	go func() {
		_, loc, err := r.StartUpload(ctx, v1.Hash{}, nil)
		opened <- session{loc, err}
	}()
	c := &countingReader{r: body, h: sha256.New()}
	// The head decides: a body that ends within it goes in the PUT.
	head, err := io.ReadAll(io.LimitReader(c, store.SmallBlobSize+1))
	s := <-opened
	if s.err != nil {
		if err != nil {
			return v1.Descriptor{}, err // the body's failure is the cause
		}
		return v1.Descriptor{}, s.err
	}
	u := &upload{r: r, loc: s.loc}
	desc, err := u.stream(ctx, mt, c, head, err)
	if err != nil {
		r.CancelUpload(u.loc)
		return v1.Descriptor{}, err
	}
	return desc, nil
}

// stream sends what follows head of c (the whole body when head is short),
// then commits the blob. readErr is the error of reading head.
func (u *upload) stream(ctx context.Context, mt types.MediaType, c *countingReader, head []byte, readErr error) (v1.Descriptor, error) {
	if readErr != nil {
		return v1.Descriptor{}, readErr
	}
	small := len(head) <= store.SmallBlobSize
	if !small {
		if err := u.patchStream(ctx, io.MultiReader(bytes.NewReader(head), c)); err != nil {
			return v1.Descriptor{}, err
		}
	}
	if v, ok := c.r.(store.Verifier); ok {
		if err := v.Verified(); err != nil {
			return v1.Descriptor{}, err
		}
	}
	u.d = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", c.h.Sum(nil))}
	u.size = c.n
	var data []byte
	if small {
		data = head
	}
	// As putSmall does: let the commit finish briefly after an interrupt,
	// so that no session is left that no one can cancel.
	pctx, stop := outlive(ctx, answerGrace)
	defer stop()
	if err := u.commit(pctx, data); err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: u.d, Size: u.size}, nil
}

// patchStream sends body in one PATCH of unknown length. The stall guard
// of the transport gives it up when the registry takes nothing for the stall
// timeout; time spent reading body (compressing) does not count.
func (u *upload) patchStream(ctx context.Context, body io.Reader) error {
	g := &gate{r: body}
	defer g.close()
	req, err := http.NewRequestWithContext(bulk(ctx), http.MethodPatch, u.loc, g)
	if err != nil {
		return err
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := u.r.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e, ok := errors.AsType[*errdefs.Error](err); ok {
			return e // the body's own failure (a diff_id that does not match)
		}
		if se, ok := errors.AsType[*StallError](err); ok {
			return errdefs.Wrap(se, errdefs.Unreachable, "%s stopped taking the upload and answered nothing for %s; a streamed upload cannot be resumed: run the command again",
				se.Who(), fmtIdle(se.Idle))
		}
		return errdefs.Wrap(err, errdefs.Unreachable, "the upload to %s broke: %s; a streamed upload cannot be resumed: run the command again",
			u.r.Host(), errdefs.Message(unreachable(err, u.r.Host())))
	}
	defer drain(resp)
	if err := u.r.check(resp, http.StatusAccepted, http.StatusNoContent, http.StatusCreated); err != nil {
		return err
	}
	if resp.Header.Get("Location") != "" {
		next, err := uploadLocation(resp)
		if err != nil {
			return err
		}
		u.loc = next
	}
	return nil
}

// countingReader hashes and counts what is read through it.
type countingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}
