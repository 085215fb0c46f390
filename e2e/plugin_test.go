package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestPluginDiscovery checks that the docker CLI finds and lists the plugin,
// and that the binary also works on its own.
func TestPluginDiscovery(t *testing.T) {
	t.Parallel()
	cli := NewCLI(t)

	t.Run("docker --help lists migrate", func(t *testing.T) {
		res := cli.RunDocker(t, "--help").AssertSuccess(t)
		// Plugin commands are listed with a trailing '*'.
		if !regexp.MustCompile(`(?m)^\s+migrate\*?\s+\S`).MatchString(res.Stdout) {
			t.Errorf("docker --help does not list migrate:\n%s", res)
		}
		if strings.Contains(res.Stderr, "docker-migrate") {
			t.Errorf("docker --help warns about the plugin:\n%s", res.Stderr)
		}
	})

	t.Run("docker migrate --help", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "--help").AssertSuccess(t)
		for _, want := range []string{"Usage:", "docker migrate", "SRC", "DST", "--platform", "--dry-run", "--format", "--progress"} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("help lacks %q:\n%s", want, res.Stdout)
			}
		}
	})

	t.Run("docker info lists the plugin", func(t *testing.T) {
		// There is no engine: docker info prints the client part and then fails.
		res := cli.RunDocker(t, "info")
		if !regexp.MustCompile(`(?m)^\s+migrate:`).MatchString(res.Stdout) {
			t.Errorf("docker info does not list the migrate plugin:\n%s", res)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		res := cli.RunPlugin(t, "docker-cli-plugin-metadata")
		res.AssertSuccess(t)
		var md struct {
			SchemaVersion    string
			Vendor           string
			Version          string
			ShortDescription string
		}
		if err := json.Unmarshal([]byte(res.Stdout), &md); err != nil {
			t.Fatalf("metadata is not JSON: %v\n%s", err, res.Stdout)
		}
		if md.SchemaVersion != "0.1.0" {
			t.Errorf("SchemaVersion %q, want 0.1.0", md.SchemaVersion)
		}
		if md.Vendor == "" {
			t.Error("Vendor is empty")
		}
		if res.Stderr != "" {
			t.Errorf("metadata wrote to stderr: %s", res.Stderr)
		}
	})

	t.Run("standalone", func(t *testing.T) {
		res := cli.RunPlugin(t, "migrate", "--help").AssertSuccess(t)
		if !strings.Contains(res.Stdout, "Usage:") {
			t.Errorf("docker-migrate migrate --help:\n%s", res)
		}
	})
}
