package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

const (
	fuzzHost   = "registry.test"
	fuzzSecret = "s3cr3t-Passw0rd"
)

// assertSentence checks what the user sees of a registry's answer: one
// line of printable text, of a readable length, that names the host and
// holds no credential.
func assertSentence(t *testing.T, err error, inputs ...string) {
	t.Helper()
	msg := errdefs.Message(err)
	if msg == "" {
		t.Fatalf("%T with an empty message", err)
	}
	if i := strings.IndexFunc(msg, func(r rune) bool { return !unicode.IsPrint(r) }); i >= 0 {
		t.Errorf("the sentence holds the unprintable %q: %q", []rune(msg[i:])[0], msg)
	}
	if len(msg) > 600 {
		t.Errorf("the sentence is %d bytes long: %.200q…", len(msg), msg)
	}
	if !strings.Contains(msg, fuzzHost) && !strings.Contains(msg, "fuzz/app") {
		t.Errorf("the sentence names neither the registry nor the repository: %q", msg)
	}
	for _, in := range inputs {
		if strings.Contains(in, fuzzSecret) || strings.Contains(in, base64.StdEncoding.EncodeToString([]byte("user:"+fuzzSecret))) {
			return // the registry echoed it: not ours to hide
		}
	}
	for _, line := range append(errdefs.Detail(err), msg) {
		if strings.Contains(line, fuzzSecret) || strings.Contains(line, base64.StdEncoding.EncodeToString([]byte("user:"+fuzzSecret))) {
			t.Errorf("the password is in what -D prints: %q", line)
		}
	}
}

// FuzzCheckResponse: any error answer of a registry (status, body, headers)
// becomes one sentence that names the registry and what to do; nothing
// panics, and the answers the caller expects pass.
func FuzzCheckResponse(f *testing.F) {
	for _, seed := range []struct {
		status            int
		body, ct, ra, www string
	}{
		{200, "", "", "", ""},
		{401, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"fuzz/app","Action":"pull"}]}]}`, "application/json", "", `Bearer realm="https://auth.test/token",service="registry.test"`},
		{403, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`, "application/json", "", ""},
		{404, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"1"}}]}`, "application/json", "", ""},
		{429, `{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}`, "application/json", "21600", ""},
		{400, `{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"unexpected EOF"},{"code":"BLOB_UNKNOWN"}]}`, "application/json", "", ""},
		{400, `{"errors":[{"code":"NAME_INVALID\n\u001b[31mevil","message":"x"}]}`, "application/json", "", ""},
		{400, `{"errors":[{"code":"` + strings.Repeat("X", 2000) + `"}]}`, "application/json", "", ""},
		{502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", "", ""},
		{413, "request entity too large", "text/plain", "", ""},
		{307, "", "", "", ""},
		{599, "{", "application/json", "-1", ""},
	} {
		f.Add(seed.status, []byte(seed.body), seed.ct, seed.ra, seed.www)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, contentType, retry, challenge string) {
		if status < 100 || status > 999 {
			status = 100 + (status%900+900)%900
		}
		h := http.Header{}
		h.Set("Content-Type", contentType)
		h.Set("Retry-After", retry)
		h.Set("WWW-Authenticate", challenge)
		resp := &http.Response{
			StatusCode: status,
			Status:     http.StatusText(status),
			Header:     h,
			Body:       io.NopCloser(bytes.NewReader(body)),
			Request:    &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "https", Host: fuzzHost, Path: "/v2/fuzz/app/manifests/1"}},
		}
		err := checkResponse(resp, fuzzHost, "read "+fuzzHost+"/fuzz/app", http.StatusOK, http.StatusAccepted)
		if status == http.StatusOK || status == http.StatusAccepted {
			if err != nil {
				t.Fatalf("%d is one of the codes asked for, yet: %v", status, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("%d passed as one of 200, 202", status)
		}
		if errdefs.KindOf(err) == errdefs.Unknown {
			t.Errorf("%d: %v has no kind", status, err)
		}
		assertSentence(t, err, string(body), contentType, retry, challenge)
	})
}

// fuzzRegistry answers /v2/ with a challenge and every other request (the
// token realm, wherever the challenge points it) with a token answer.
type fuzzRegistry struct {
	challenges  []string
	tokenStatus int
	tokenBody   []byte
}

func (r fuzzRegistry) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Request: req, Body: io.NopCloser(strings.NewReader(""))}
	switch {
	case req.URL.Host == fuzzHost && req.URL.Path == "/v2/":
		resp.StatusCode = http.StatusUnauthorized
		resp.Header["Www-Authenticate"] = r.challenges
	case req.URL.Host == fuzzHost && strings.HasPrefix(req.URL.Path, "/v2/fuzz/app/"):
		// A request through the transport that was built.
	default:
		resp.StatusCode = r.tokenStatus
		resp.Header.Set("Content-Type", "application/json")
		resp.Body = io.NopCloser(bytes.NewReader(r.tokenBody))
	}
	resp.Status = http.StatusText(resp.StatusCode)
	return resp, nil
}

// FuzzChallenge: any WWW-Authenticate challenge (one or several) and any
// answer of the token realm it names, as the client meets them when it
// opens a repository (go-containerregistry's ping and bearer exchange,
// through connect): the repository opens and a request goes through, or
// the failure is one sentence naming the registry that never holds the
// password; nothing panics, nothing hangs.
func FuzzChallenge(f *testing.F) {
	token := []byte(`{"token":"abc.def.ghi","access_token":"abc.def.ghi","expires_in":300,"issued_at":"2026-01-01T00:00:00Z"}`)
	for _, seed := range []struct {
		challenge string
		status    int
		body      []byte
	}{
		{`Bearer realm="https://auth.test/token",service="registry.test",scope="repository:fuzz/app:pull"`, 200, token},
		{`Bearer realm="https://auth.test/token",service="registry.test"`, 200, []byte(`{"access_token":"x"}`)},
		{`Bearer realm="https://auth.test/token"`, 401, []byte(`{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`)},
		{`Bearer realm="https://auth.test/token",service="registry.test"`, 200, []byte(`{"token":""}`)},
		{`Bearer realm="https://auth.test/token",service="registry.test"`, 200, []byte(`not json`)},
		{`Bearer realm="https://auth.test/token",service="registry.test"`, 404, []byte(`<html>404</html>`)},
		{`Basic realm="Registry Realm"`, 200, nil},
		{"Basic realm=\"x\"\nBearer realm=\"https://auth.test/token\",service=\"registry.test\"", 200, token},
		{`Bearer realm=""`, 200, token},
		{`Bearer realm="http://[::1`, 200, token},
		{`Bearer realm="file:///etc/passwd"`, 200, token},
		{`Bearer realm="https://auth.test/token?x=1",error="insufficient_scope"`, 403, nil},
		{`Negotiate`, 200, nil},
		{`Bearer realm=https://auth.test/token, service=registry.test, scope="a b"`, 200, token},
		{`Bearer realm="https://auth.test/token",service="registry.test"`, 200, []byte(`{"token":"a\nb"}`)},
		{``, 200, nil},
	} {
		f.Add(seed.challenge, seed.status, seed.body)
	}
	repo, err := name.NewRepository(fuzzHost + "/fuzz/app")
	if err != nil {
		f.Fatal(err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: "user", Password: fuzzSecret})
	f.Fuzz(func(t *testing.T, challenge string, status int, body []byte) {
		switch status {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			// Retried with a wait: what they do is the retry tests' to check.
			status = http.StatusInternalServerError
		}
		if status < 100 || status > 999 {
			status = 100 + (status%900+900)%900
		}
		reg := fuzzRegistry{challenges: strings.Split(challenge, "\n"), tokenStatus: status, tokenBody: body}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := New()
		rt, err := c.connect(ctx, repo.Registry, auth, reg, []string{repo.Scope(transport.PullScope)})
		if ctx.Err() != nil {
			t.Fatalf("connect did not end in 10s")
		}
		if err != nil {
			assertSentence(t, classify(err, fuzzHost, "read "+repo.Name()), challenge, string(body))
			return
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+fuzzHost+"/v2/fuzz/app/manifests/1", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			assertSentence(t, classify(err, fuzzHost, "read "+repo.Name()), challenge, string(body))
			return
		}
		_ = resp.Body.Close()
	})
}

// FuzzHostsFile feeds hosts.toml files to the reader: it returns endpoints or
// an error naming the file, and never panics.
func FuzzHostsFile(f *testing.F) {
	for _, s := range []string{
		"server = \"https://registry-1.docker.io\"\n[host.\"https://m.lan\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = [\"a.crt\", \"/b.crt\"]\n",
		"[host.\"http://10.0.0.1:5000\"]\nskip_verify = true\noverride_path = true\nclient = [[\"c\", \"k\"], \"p.pem\"]\n[host.\"http://10.0.0.1:5000\".header]\nx = [\"a\"]\n",
		"server = \"\"\n", "[host]\n", "[[host.\"a\"]]\n", "server = 1", "ca = {}\n", "[host.\"\"]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hf, err := ParseHostsFile("/etc/docker/certs.d/r.lan", "r.lan", data)
		if err != nil {
			if !strings.Contains(err.Error(), "/etc/docker/certs.d/r.lan/hosts.toml") {
				t.Fatalf("error without the file's path: %v", err)
			}
			return
		}
		if len(hf.Endpoints) == 0 {
			t.Fatal("no endpoints and no error: the server is always last")
		}
		for _, e := range hf.Endpoints {
			if e.URL.Host == "" || (e.URL.Scheme != "http" && e.URL.Scheme != "https") {
				t.Fatalf("endpoint without a host or with scheme %q: %+v", e.URL.Scheme, e)
			}
		}
	})
}
