package registry

import (
	"runtime"
	"testing"
)

func TestCertsDirName(t *testing.T) {
	want := "registry.lan:5000"
	if runtime.GOOS == "windows" {
		want = "registry.lan5000"
	}
	if got := certsDirName("registry.lan:5000"); got != want {
		t.Errorf("certsDirName = %q, want %q (as the engine names it on %s)", got, want, runtime.GOOS)
	}
}
