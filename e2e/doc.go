// Package e2e holds the end-to-end tests of docker-migrate: they install the
// built plugin into a temporary DOCKER_CONFIG/cli-plugins, run the real docker
// CLI, and copy images between real distribution registries.
//
// Run them with `go test ./e2e/` from the repository root. The registry binary
// is looked up on PATH, then in the scripts/install-tools.sh cache, and
// installed there if missing.
package e2e
