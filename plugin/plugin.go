// Package plugin is where docker-migrate meets the docker CLI: its plugin
// metadata, and the credentials, TLS directories and engine of the CLI that
// launched it, handed to internal/ as plain values and interfaces.
package plugin

import (
	"fmt"
	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"strings"
)

// Vendor names who ships the plugin, as `docker info` shows it.
const Vendor = "docker-migrate"

// Metadata is what `docker-migrate docker-cli-plugin-metadata` prints.
func Metadata() metadata.Metadata {
	return metadata.Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           Vendor,
		Version:          Version,
		ShortDescription: "Copy images, multi-arch included, between registries, archives and engines",
		URL:              "https://github.com/docker-migrate/docker-migrate",
	}
}

// dockerHubAuthKey is the key `docker login` stores Docker Hub credentials under.
const dockerHubAuthKey = "https://index.docker.io/v1/"

// Keychain resolves registry credentials through the docker CLI's config file, so
// auths, credsStore, credHelpers and `docker --config` all apply exactly as they
// do for `docker pull`.
func Keychain(cfg *configfile.ConfigFile) authn.Keychain { return &keychain{cfg: cfg} }

type keychain struct{ cfg *configfile.ConfigFile }

// unreadableCredentials stands in for credentials that could not be read:
// no credentials are sent, and the registry client names the reason
// (registry.UnreadableCredentials).
type unreadableCredentials struct{ reason string }

func (unreadableCredentials) Authorization() (*authn.AuthConfig, error) {
	return &authn.AuthConfig{}, nil
}

func (u unreadableCredentials) UnreadableReason() string { return u.reason }

// helperProblem says which helper could not give the credentials for key,
// where it is configured, and what to change.
func (k *keychain) helperProblem(key string, err error) string {
	helper, field := k.cfg.CredentialHelpers[key], "credHelpers"
	if helper == "" {
		helper, field = k.cfg.CredentialsStore, "credsStore"
	}
	file := k.cfg.Filename
	if helper == "" {
		return fmt.Sprintf("reading them from %s failed (%v)", file, err)
	}
	return fmt.Sprintf("the credential helper docker-credential-%s (%q in %s) did not answer (%v): install it, or remove %q from that file and run 'docker login' again",
		helper, field, file, oneLine(err.Error()), field)
}

// oneLine keeps the first line of a helper's error, without its empty
// "out: “" tail.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	s = strings.TrimSuffix(strings.TrimSpace(s), ", out: ``")
	return s
}

func (k *keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	key := r.RegistryStr()
	switch key {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		key = dockerHubAuthKey
	}
	ac, err := k.cfg.GetAuthConfig(key)
	if err != nil {
		// A credential helper that is not installed (a config copied from
		// Docker Desktop names "desktop") must not stop a copy from a
		// registry that needs no sign-in: go on without, and say why.
		return unreadableCredentials{reason: k.helperProblem(key, err)}, nil
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" && ac.Auth == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username:      ac.Username,
		Password:      ac.Password,
		Auth:          ac.Auth,
		IdentityToken: ac.IdentityToken,
		RegistryToken: ac.RegistryToken,
	}), nil
}
