package plugin

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/docker/cli/cli/config"
)

// CertDirs lists the certs.d directories the engine and CLI read CA files
// from: the system one, as the docker CLI finds it, and the one beside the
// CLI's config (~/.docker or --config).
func CertDirs() []string {
	dirs := []string{systemCertsDir(runtime.GOOS, os.Getenv), filepath.Join(config.Dir(), "certs.d")}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".docker", "certs.d"))
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// systemCertsDir is the docker CLI's own choice (its registry.CertsDir):
// /etc/docker/certs.d; under RootlessKit the user's config directory;
// %ProgramData%\docker\certs.d on Windows.
func systemCertsDir(goos string, getenv func(string) string) string {
	switch {
	case goos == "linux" && getenv("ROOTLESSKIT_STATE_DIR") != "":
		if dir, err := os.UserConfigDir(); err == nil && dir != "" {
			return filepath.Join(dir, "docker", "certs.d")
		}
	case goos == "windows":
		return filepath.Join(getenv("programdata"), "docker", "certs.d")
	}
	return "/etc/docker/certs.d"
}
