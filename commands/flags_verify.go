package commands

import (
	"github.com/spf13/pflag"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/docker-migrate/docker-migrate/internal/verify"
)

// verifyFlags is --verify-key: copy only what the publisher signed.
type verifyFlags struct {
	keys []string
}

func addVerifyFlags(flags *pflag.FlagSet, opts *verifyFlags) {
	flags.StringArrayVar(&opts.keys, "verify-key", nil, "Copy an image only if it carries a cosign signature by this public key (PEM, as cosign.pub) over the digest being copied; repeatable, one key suffices. With --check, say whether DST carries one")
}

// keyCache loads each key file once, for --verify-key and the sync files'
// verify: keys alike.
type keyCache map[string]*verify.Key

func (c keyCache) load(path string) (*verify.Key, error) {
	if k, ok := c[path]; ok {
		return k, nil
	}
	k, err := verify.LoadKey(path)
	if err != nil {
		return nil, err
	}
	c[path] = k
	return k, nil
}

// loadEntryKeys reads every key the entries name before anything is read
// from a registry: a bad key file is bad input, named with its list's line.
func (c keyCache) loadEntryKeys(entries []imagelist.Entry) error {
	for _, e := range entries {
		for _, p := range e.VerifyKeys {
			if _, err := c.load(p); err != nil {
				return &imagelist.Error{File: e.File, Line: e.Line, Msg: "verify: " + errdefs.Message(err)}
			}
		}
	}
	return nil
}
