//go:build !windows

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// migrateReport is the `--format json` output of docker migrate.
type migrateReport struct {
	Source            string           `json:"source"`
	Destination       string           `json:"destination"`
	SourceDigest      string           `json:"sourceDigest"`
	DestinationDigest string           `json:"destinationDigest"`
	DigestChanged     bool             `json:"digestChanged"`
	MediaType         string           `json:"mediaType"`
	Strategy          string           `json:"strategy"`
	Platforms         []platformReport `json:"platforms"`
	Manifests         struct {
		Copied  int `json:"copied"`
		Skipped int `json:"skipped"`
	} `json:"manifests"`
	Blobs struct {
		Copied  int `json:"copied"`
		Mounted int `json:"mounted"`
		Skipped int `json:"skipped"`
	} `json:"blobs"`
	Bytes struct {
		Copied  int64 `json:"copied"`
		Mounted int64 `json:"mounted"`
		Skipped int64 `json:"skipped"`
	} `json:"bytes"`
	DurationSeconds float64 `json:"durationSeconds"`
	DryRun          bool    `json:"dryRun"`
}

type platformReport struct {
	Platform          string `json:"platform"`
	SourceDigest      string `json:"sourceDigest"`
	DestinationDigest string `json:"destinationDigest"`
}

// reportKeys are the keys the JSON output must have, and the nested ones.
var (
	reportKeys = []string{
		"source", "destination", "sourceDigest", "destinationDigest", "digestChanged",
		"mediaType", "strategy", "platforms", "manifests", "blobs", "bytes",
		"durationSeconds", "dryRun", "attempts",
	}
	nestedKeys = map[string][]string{
		"manifests": {"copied", "skipped"},
		"blobs":     {"copied", "mounted", "skipped"},
		"bytes":     {"copied", "mounted", "skipped"},
	}
	platformKeys = []string{"platform", "sourceDigest", "destinationDigest"}
)

// parseReport checks that stdout is exactly one JSON object with every key
// of the contract and decodes it.
func parseReport(t testing.TB, res Result) migrateReport {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(res.Stdout))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, res)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		t.Fatalf("stdout holds more than one JSON object:\n%s", res)
	}
	assertKeys(t, "", raw, reportKeys)
	for key, want := range nestedKeys {
		var nested map[string]json.RawMessage
		if err := json.Unmarshal(raw[key], &nested); err != nil {
			t.Errorf("%q is not an object: %s", key, raw[key])
			continue
		}
		assertKeys(t, key+".", nested, want)
	}
	var plats []map[string]json.RawMessage
	if err := json.Unmarshal(raw["platforms"], &plats); err != nil {
		t.Errorf("\"platforms\" is not an array of objects: %s", raw["platforms"])
	}
	for i, p := range plats {
		assertKeys(t, "platforms["+strconv.Itoa(i)+"].", p, platformKeys)
	}

	var r migrateReport
	d := json.NewDecoder(bytes.NewReader([]byte(res.Stdout)))
	if err := d.Decode(&r); err != nil {
		t.Fatalf("decode JSON output: %v\n%s", err, res.Stdout)
	}
	return r
}

func assertKeys(t testing.TB, prefix string, got map[string]json.RawMessage, want []string) {
	t.Helper()
	var missing, extra []string
	for _, k := range want {
		if _, ok := got[k]; !ok {
			missing = append(missing, prefix+k)
		}
	}
	for k := range got {
		if !slices.Contains(want, k) {
			extra = append(extra, prefix+k)
		}
	}
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("JSON output lacks %s", strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		// Extra keys do not break the contract; say so in the log only.
		t.Logf("JSON output has keys beyond the contract: %s", strings.Join(extra, ", "))
	}
}

// reportRecords reads a --report file.
func reportRecords(t testing.TB, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var fields map[string]any
		if err := json.Unmarshal(sc.Bytes(), &fields); err != nil {
			t.Fatalf("report line %q is not JSON: %v", sc.Text(), err)
		}
		rec := map[string]string{}
		for k, v := range fields {
			rec[k] = fmt.Sprint(v)
		}
		out = append(out, rec)
	}
	return out
}
