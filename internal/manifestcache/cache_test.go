package manifestcache

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func digestOf(t *testing.T, body []byte) v1.Hash {
	t.Helper()
	d, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCache(t *testing.T) {
	body := []byte(`{"schemaVersion":2,"manifests":[]}`)
	d := digestOf(t, body)
	other := digestOf(t, []byte("other"))

	tests := []struct {
		name string
		run  func(t *testing.T, c *Cache)
	}{
		{"kept and found", func(t *testing.T, c *Cache) {
			c.Put(d, body)
			if got, ok := c.Get(d); !ok || !bytes.Equal(got, body) {
				t.Fatalf("Get = %q, %v", got, ok)
			}
		}},
		{"a body under another digest is not kept", func(t *testing.T, c *Cache) {
			c.Put(other, body)
			if _, ok := c.Get(other); ok {
				t.Fatal("found a body under a digest it does not have")
			}
		}},
		{"a damaged entry is not found, and removed", func(t *testing.T, c *Cache) {
			c.Put(d, body)
			p, _ := c.path(d)
			if err := os.WriteFile(p, []byte("damaged"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Get(d); ok {
				t.Fatal("found a damaged entry")
			}
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Fatalf("damaged entry left: %v", err)
			}
		}},
		{"read-only keeps nothing", func(t *testing.T, c *Cache) {
			c.ReadOnly().Put(d, body)
			if _, ok := c.Get(d); ok {
				t.Fatal("a read-only cache kept an entry")
			}
			c.Put(d, body)
			if _, ok := c.ReadOnly().Get(d); !ok {
				t.Fatal("a read-only cache does not find what is there")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, Open(filepath.Join(t.TempDir(), "manifests")))
		})
	}
	var none *Cache
	none.Put(d, body)
	if _, ok := none.Get(d); ok || none.ReadOnly() != nil {
		t.Fatal("a nil cache found something")
	}
}
