package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCompletion asks docker's own completion (`docker __complete`, what the
// scripts of `docker completion bash|zsh|fish` call) for the values of the
// plugin's flags.
func TestCompletion(t *testing.T) {
	t.Parallel()
	cli := NewCLI(t)
	// A builder as `docker buildx create --name kit` leaves it.
	instances := filepath.Join(cli.ConfigDir, "buildx", "instances")
	if err := os.MkdirAll(instances, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(instances, "kit"), []byte(`{"Name":"kit","Driver":"remote"}`), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args []string
		want []string
		// prefix: every value starts with it.
		prefix string
	}{
		{args: []string{"--strategy", ""}, want: []string{"auto", "index", "manifest", "buildx"}},
		{args: []string{"--progress", ""}, want: []string{"auto", "tty", "plain", "rawjson", "quiet"}},
		{args: []string{"--format", ""}, want: []string{"json", "{{.DestinationDigest}}"}},
		{args: []string{"--media-types", ""}, want: []string{"docker", "oci"}},
		{args: []string{"--platform", ""}, want: []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x", "windows/amd64"}},
		{args: []string{"--platform", "linux/amd64,"}, want: []string{"linux/amd64,linux/arm64"}, prefix: "linux/amd64,"},
		{args: []string{"--builder", ""}, want: []string{"default", "kit"}},
		{args: []string{"version", "--format", ""}, want: []string{"json"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			res := cli.RunDocker(t, append([]string{"__complete", "migrate"}, tc.args...)...).AssertSuccess(t)
			values, directive := completions(res.Stdout)
			for _, w := range tc.want {
				if !slices.Contains(values, w) {
					t.Errorf("completion lacks %q: %q", w, values)
				}
			}
			for _, v := range values {
				if !strings.HasPrefix(v, tc.prefix) {
					t.Errorf("completion %q does not start with %q", v, tc.prefix)
				}
				if tc.prefix != "" && strings.Count(v, "linux/amd64") > 1 {
					t.Errorf("completion %q repeats a platform already given", v)
				}
			}
			// 4 is cobra's ShellCompDirectiveNoFileComp: a value, not a file.
			if directive&4 == 0 {
				t.Errorf("directive %d offers files for a flag that takes a value:\n%s", directive, res.Stdout)
			}
		})
	}
}

// completions reads `docker __complete` output: one value per line (a tab
// and a description may follow), then ":DIRECTIVE".
func completions(out string) ([]string, int) {
	var values []string
	directive := -1
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if d, ok := strings.CutPrefix(line, ":"); ok {
			directive = 0
			for _, c := range d {
				directive = directive*10 + int(c-'0')
			}
			continue
		}
		v, _, _ := strings.Cut(line, "\t")
		values = append(values, v)
	}
	return values, directive
}
