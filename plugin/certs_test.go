package plugin

import (
	"path/filepath"
	"testing"
)

func TestSystemCertsDir(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	if got := systemCertsDir("linux", env(nil)); got != "/etc/docker/certs.d" {
		t.Errorf("linux: %q", got)
	}
	if got, want := systemCertsDir("windows", env(map[string]string{"programdata": `C:\ProgramData`})), filepath.Join(`C:\ProgramData`, "docker", "certs.d"); got != want {
		t.Errorf("windows: %q, want %q", got, want)
	}
	t.Setenv("XDG_CONFIG_HOME", "/home/u/.config")
	if got := systemCertsDir("linux", env(map[string]string{"ROOTLESSKIT_STATE_DIR": "/run/user/1000/dockerd-rootless"})); got != "/home/u/.config/docker/certs.d" {
		t.Errorf("rootless: %q", got)
	}
}
