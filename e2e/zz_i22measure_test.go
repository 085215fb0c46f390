package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Throwaway: before/after measurements for the i22import report. Not committed.
func TestZZI22Measure(t *testing.T) {
	if os.Getenv("I22_MEASURE") == "" {
		t.Skip("I22_MEASURE")
	}
	src := startRegistry(t, registryOptions{})
	cli := NewCLI(t)
	dir := t.TempDir()
	if os.Getenv("I22_BUNDLE") != "" {
		var srcRefs []string
		for _, im := range seedBatch(t, src, "team/app", benchBatchImages, benchBatchLayerSize) {
			srcRefs = append(srcRefs, src.Ref(im.ref))
		}
		list := writeList(t, "images.txt", srcRefs...)
		zst := filepath.Join(dir, "bundle.tar.zst")
		cli.RunDocker(t, "migrate", "-f", list, "oci-archive:"+zst).AssertSuccess(t)
		for range 2 {
			for _, bin := range []string{"/tmp/i22import/docker-migrate-before", "/tmp/i22import/docker-migrate-after"} {
				dst := startRegistry(t, registryOptions{})
				tmp := t.TempDir()
				stop := peakTempInUse(tmp)
				cmd := exec.Command(bin, "-D", "migrate", "oci-archive:"+zst, dst.Host+"/b")
				cmd.Env = append(cli.Env(), "TMPDIR="+tmp)
				start := time.Now()
				out, err := cmd.CombinedOutput()
				wall := time.Since(start)
				peak := stop()
				var passes []string
				for _, l := range strings.Split(string(out), "\n") {
					if strings.Contains(l, "passes over") || strings.Contains(l, "asked for after") || strings.Contains(l, "no room") || strings.Contains(l, "stopped reading") {
						passes = append(passes, l)
					}
				}
				up, _ := os.ReadFile("/proc/loadavg")
				t.Logf("%s bundle: %v wall %.2fs peak temp %d archive %d load %s\n%s", filepath.Base(bin), err, wall.Seconds(), peak, fileSize(t, zst), bytes.TrimSpace(up), strings.Join(passes, "\n"))
			}
		}
		return
	}
	const repoTag = "bench/fixture:v1"
	pushFixture(t, src, src.Ref(repoTag), benchFixture(), false)
	zst := filepath.Join(dir, "images.tar.zst")
	cli.RunDocker(t, "migrate", src.Ref(repoTag), "oci-archive:"+zst).AssertSuccess(t)
	save := filepath.Join(dir, "save.tar")
	writeDockerSave(t, save, "tools/text:v1", 4, 16<<20)
	_, savegz := compressed(t, save)
	if os.Getenv("I22_PHASES") != "" {
		dst := startRegistry(t, registryOptions{})
		cmd := exec.Command("/tmp/i22import/docker-migrate-after", "-D", "migrate", "oci-archive:"+zst, dst.Host+"/p")
		cmd.Env = cli.Env()
		out, err := cmd.CombinedOutput()
		t.Logf("%v\n%s", err, out)
		return
	}
	rss := regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)
	run := func(bin, file, prefix string) {
		dst := startRegistry(t, registryOptions{})
		tmp := t.TempDir()
		stop := peakTempInUse(tmp)
		cmd := exec.Command("/usr/bin/time", "-v", bin, "migrate", "oci-archive:"+file, dst.Host+"/"+prefix)
		cmd.Env = append(cli.Env(), "TMPDIR="+tmp)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		peak := stop()
		m := rss.FindStringSubmatch(stderr.String())
		up, _ := os.ReadFile("/proc/loadavg")
		t.Logf("%s %s: %v wall %.2fs, peak temp %d B, archive %d B, maxrss %s KiB, loadavg %s", filepath.Base(bin), filepath.Base(file), err, wall.Seconds(), peak, fileSize(t, file), m[1], bytes.TrimSpace(up))
	}
	for range 3 {
		for _, bin := range []string{"/tmp/i22import/docker-migrate-before", "/tmp/i22import/docker-migrate-after"} {
			run(bin, zst, "z")
		}
	}
	for _, bin := range []string{"/tmp/i22import/docker-migrate-before", "/tmp/i22import/docker-migrate-after"} {
		run(bin, savegz, "s")
	}
	t.Logf("save.tar %d B, save.tar.gz %d B", fileSize(t, save), fileSize(t, savegz))
}
