// Command ociregistry serves go-containerregistry's registry (in memory) with
// the OCI 1.1 referrers API on: the e2e tests' registry that has that API,
// which the distribution registry (v3.1 and Debian's 2.8) does not serve.
//
//	ociregistry --addr 127.0.0.1:5000
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "address to listen on (loopback or a test host's)")
	flag.Parse()
	srv := &http.Server{
		Addr:              *addr,
		Handler:           registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(os.Stderr, "", log.LstdFlags))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "ociregistry:", err)
		os.Exit(1)
	}
}
