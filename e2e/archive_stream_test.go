package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/store/archive"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// TestArchiveKilledThenRerun kills an export (SIGKILL: no cleanup runs) part
// way: what is left is only the hidden temporary archive, never a file that
// looks finished. The next run on the same target removes it, says so, and
// writes the archive.
func TestArchiveKilledThenRerun(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "arch-kill/app", 6, 64<<10)
	slow := startQuirkProxy(t, src, quirk.Options{Delay: 25 * time.Millisecond})
	var refs []string
	for _, im := range images {
		refs = append(refs, slow.Ref(im.ref))
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "images.tar.gz")
	cli := NewCLI(t)
	run := cli.StartDocker(t, append(append([]string{"migrate", "-j", "1"}, refs...), "oci-archive:"+target)...)
	if !waitFor(30*time.Second, func() bool { return tempArchiveSize(target) > 64<<10 }) {
		t.Fatalf("the temporary archive did not grow:\n%s", run.Stderr())
	}
	// The docker CLI and the plugin are one process group.
	if err := syscall.Kill(-run.Cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-run.Done()
	if _, err := os.Stat(target); err == nil {
		t.Fatal("a killed export left the target")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".images.tar.gz.tmp-*"))
	if len(left) != 1 {
		t.Fatalf("a killed export left %v, want one temporary archive", left)
	}

	res := cli.RunDocker(t, append(append([]string{"migrate"}, refs...), "oci-archive:"+target)...).AssertSuccess(t)
	if want := "removed " + filepath.Base(left[0]); !strings.Contains(res.Stderr, want) {
		t.Errorf("the re-run did not say %q:\n%s", want, res.Stderr)
	}
	assertFiles(t, dir, "images.tar.gz")
	a := openArchiveT(t, "oci-archive:"+target)
	defer a.Close()
	for i, im := range images {
		e := a.Entries()
		if len(e) != len(images) || e[i].Descriptor.Digest != im.digest {
			t.Errorf("entry %d of %v, want %s", i, e, im.digest)
		}
	}
}

// TestArchiveGivenName exports a list line's rename without a registry (SRC
// tools/bb): the archive stores tools/bb:TAG as given, stdout says that name,
// and ctr imports it under that name, from the .tar, .tar.gz and .tar.zst
// alike (gzip and zstd decompress what the parallel encoders wrote; skopeo
// reads the compressed files as they are).
func TestArchiveGivenName(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "arch-name/bb", 1, 32<<10)
	list := writeList(t, "images.txt", src.Ref(images[0].ref)+" tools/bb")
	cli := NewCLI(t)
	c := startContainerd(t)
	for _, ext := range []string{".tar", ".tar.gz", ".tar.zst"} {
		target := filepath.Join(t.TempDir(), "images"+ext)
		res := cli.RunDocker(t, "migrate", "-f", list, "oci-archive:"+target).AssertSuccess(t)
		if want := "tools/bb:v1@" + images[0].digest.String() + "\n"; res.Stdout != want {
			t.Errorf("%s: stdout %q, want %q", ext, res.Stdout, want)
		}
		a := openArchiveT(t, "oci-archive:"+target)
		raw, _ := json.Marshal(a.Entries())
		a.Close()
		if !strings.Contains(string(raw), `"`+archive.AnnotationImageName+`":"tools/bb:v1"`) {
			t.Errorf("%s: index.json entries %s", ext, raw)
		}
		// ctr 1.6 reads a plain tar only (k3s decompresses by the file's
		// extension): gzip and zstd read the frames the encoders wrote.
		plain := target
		switch ext {
		case ".tar.gz":
			plain = strings.TrimSuffix(target, ".gz")
			runTool(t, nil, "sh", "-c", "gzip -dc '"+target+"' > '"+plain+"'")
		case ".tar.zst":
			plain = strings.TrimSuffix(target, ".zst")
			runTool(t, nil, "zstd", "-q", "-d", target, "-o", plain)
		}
		ns := "n" + strings.ReplaceAll(ext, ".", "")
		c.ctr(t, ns, "images", "import", "--all-platforms", plain)
		got := c.images(t, ns)
		if im, ok := got["tools/bb:v1"]; !ok || im.digest != images[0].digest {
			t.Errorf("%s: ctr images: %v", ext, got)
		}
		if ext != ".tar" {
			needTool(t, "skopeo", "skopeo")
			runTool(t, nil, "skopeo", "inspect", "oci-archive:"+target+":v1")
		}
	}
}
