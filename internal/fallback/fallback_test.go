package fallback

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestClassifyQuotesTheRegistry: a refused OCI manifest is named with the
// registry's own reason, not blamed on OCI media types in general.
func TestClassifyQuotesTheRegistry(t *testing.T) {
	u, _ := url.Parse("http://registry.test/v2/app/manifests/sha256:abc")
	err := &registry.ManifestPutError{MediaType: types.OCIManifestSchema1, Ref: "sha256:abc", Err: &transport.Error{
		StatusCode: http.StatusBadRequest, Request: &http.Request{URL: u},
		Errors: []transport.Diagnostic{{Code: transport.ManifestInvalidErrorCode, Message: "manifest invalid: mediaType in manifest should be 'application/vnd.docker.distribution.manifest.v2+json'"}},
	}}
	class, cerr := Classify(err)
	msg := errdefs.Message(cerr)
	if class != OCIRejected || !strings.Contains(msg, "mediaType in manifest should be") || !strings.Contains(msg, "registry.test") || !strings.Contains(msg, "sha256:abc") {
		t.Errorf("Classify = %s, %q; want oci-rejected quoting the registry", class, msg)
	}
	if strings.Contains(msg, "does not accept OCI media types") {
		t.Errorf("%q blames OCI media types", msg)
	}
}
