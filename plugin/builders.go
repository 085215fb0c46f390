package plugin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"

	"github.com/docker/cli/cli/config"
)

// BuildxBuilders lists the builder names `docker buildx build --builder`
// takes, as buildx finds them: "default", the builders `docker buildx create`
// made (buildx/instances/NAME in the config directory) and the docker
// contexts, each of which buildx offers as a builder. It only reads files,
// for shell completion.
func BuildxBuilders() []string {
	dir := config.Dir()
	names := []string{"default"}
	if entries, err := os.ReadDir(filepath.Join(dir, "buildx", "instances")); err == nil {
		for _, e := range entries {
			if e.Type().IsRegular() {
				names = append(names, readName(filepath.Join(dir, "buildx", "instances", e.Name()), e.Name()))
			}
		}
	}
	if entries, err := os.ReadDir(filepath.Join(dir, "contexts", "meta")); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				if n := readName(filepath.Join(dir, "contexts", "meta", e.Name(), "meta.json"), ""); n != "" {
					names = append(names, n)
				}
			}
		}
	}
	slices.Sort(names[1:])
	return slices.Compact(names)
}

// readName is the "Name" of a buildx instance or context file, else fallback.
func readName(path, fallback string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fallback
	}
	var v struct{ Name string }
	if json.Unmarshal(b, &v) != nil || v.Name == "" {
		return fallback
	}
	return v.Name
}
