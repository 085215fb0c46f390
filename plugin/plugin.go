// Package plugin is where docker-migrate meets the docker CLI: its plugin
// metadata, and the credentials, TLS directories and engine of the CLI that
// launched it, handed to internal/ as plain values and interfaces.
package plugin

import (
	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/authn"
)

// Vendor names who ships the plugin, as `docker info` shows it.
const Vendor = "docker-migrate"

// Metadata is what `docker-migrate docker-cli-plugin-metadata` prints.
func Metadata() metadata.Metadata {
	return metadata.Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           Vendor,
		Version:          Version,
		ShortDescription: "Copy images, multi-arch included, from one registry to another",
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

func (k *keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	key := r.RegistryStr()
	switch key {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		key = dockerHubAuthKey
	}
	ac, err := k.cfg.GetAuthConfig(key)
	if err != nil {
		return nil, err
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
