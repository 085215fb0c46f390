package indexstrategy

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"io"

	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxReadOn bounds what is read past a blob's described size to learn
// whether the whole of it matches the digest (a descriptor with a wrong
// size) or not (a damaged blob).
const maxReadOn = 16 << 20

// endedShort is the error for a download that stopped at b.n, before the
// size the manifest says, or nil to go on as for a broken download: when
// what was read already hashes to the digest, that is the whole blob, and
// the descriptor's size is wrong. Resuming or retrying cannot help.
func (b *blobReader) endedShort() error {
	if b.n >= b.size || !bytes.Equal(b.h.Sum(nil), hexBytes(b.want)) {
		return nil
	}
	return store.SizeMismatch(b.want, b.n, b.size, b.src)
}

// ranPast is the error for a blob that goes on past the size the manifest
// says (or does not match there): the blob is read on, a bounded way, into
// a copy of the hash; if the whole of it matches the digest, the
// descriptor's size is wrong. Otherwise it returns nil, and the blob is
// what the caller calls it.
func (b *blobReader) ranPast() error {
	if b.rc == nil {
		return nil
	}
	state, err := b.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil
	}
	n, err := io.Copy(h, io.LimitReader(b.rc, maxReadOn+1))
	if err != nil && !errors.Is(err, io.EOF) || n > maxReadOn {
		return nil
	}
	if !bytes.Equal(h.Sum(nil), hexBytes(b.want)) {
		return nil
	}
	return store.SizeMismatch(b.want, b.n+n, b.size, b.src)
}

// hexBytes is d's hash as bytes, to compare with a hash.Hash's Sum.
func hexBytes(d v1.Hash) []byte {
	b, _ := hex.DecodeString(d.Hex)
	return b
}
