// Command seed pushes a generated multi-arch fixture image to a registry and
// prints its digest. The Makefile demo and the benchmark use it:
//
//	go run ./internal/testutil/cmd/seed --platforms 8 --layer-size 12500000 --attestations 127.0.0.1:5000/demo:latest
//
// Loopback registries are spoken to over plain HTTP. Credentials come from the
// docker config file ($DOCKER_CONFIG or ~/.docker).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		opts      fixture.Options
		platforms = flag.Int("platforms", 8, "number of platforms (1-8), taken in order from linux/amd64, linux/arm64/v8, linux/arm/v7, linux/arm/v6, linux/386, linux/ppc64le, linux/s390x, linux/riscv64")
		single    = flag.Bool("single", false, "push a single-platform manifest (the first platform) instead of an index")
		insecure  = flag.Bool("insecure", false, "use plain HTTP even for a registry that is not on loopback")
	)
	flag.IntVar(&opts.LayersPerImage, "layers", fixture.DefaultLayersPerImage, "layers per image, the one shared by all platforms included")
	flag.Int64Var(&opts.LayerSize, "layer-size", fixture.DefaultLayerSize, "bytes of random content per layer")
	flag.BoolVar(&opts.Docker, "docker", false, "use Docker media types instead of OCI")
	flag.BoolVar(&opts.Attestations, "attestations", false, "add a buildx-style attestation manifest per platform")
	flag.Int64Var(&opts.Seed, "seed", 0, "seed of the random content")
	flag.StringVar(&opts.Base, "base", "", "name of the first layer, shared by every fixture seeded with the same --base")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: seed [flags] REF\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	all := fixture.EightPlatforms()
	if *platforms < 1 || *platforms > len(all) {
		return fmt.Errorf("--platforms %d: want 1 to %d", *platforms, len(all))
	}
	opts.Platforms = all[:*platforms]

	var nameOpts []name.Option
	if *insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.ParseReference(flag.Arg(0), nameOpts...)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	remoteOpts := []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}

	start := time.Now()
	var digest v1.Hash
	if *single {
		digest, err = fixture.PushImage(ctx, ref, opts, remoteOpts...)
	} else {
		digest, err = fixture.PushIndex(ctx, ref, opts, remoteOpts...)
	}
	if err != nil {
		return err
	}
	n := len(opts.Platforms)
	if *single {
		n = 1
	}
	fmt.Fprintf(os.Stderr, "seed: pushed %s (%d platform(s), about %d MB of layers) in %s\n",
		ref, n, approxBytes(opts, n)>>20, time.Since(start).Round(time.Millisecond))
	fmt.Println(digest)
	return nil
}

// approxBytes is the size of the distinct layers: the shared one once, and the
// others once per platform.
func approxBytes(opts fixture.Options, platforms int) int64 {
	return opts.LayerSize * (1 + int64(platforms)*int64(opts.LayersPerImage-1))
}
