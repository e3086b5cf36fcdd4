// Command ensure-testapp builds the test application image if the engine
// does not have the one for the current source yet, and prints its
// reference. CI runs it before the tests so their first use is quick:
//
//	go run ./internal/imagebuild/cmd/ensure-testapp
//
// The engine is found from the environment (DOCKER_HOST, DOCKER_TLS_VERIFY,
// DOCKER_CERT_PATH, DOCKER_API_VERSION) or the default local socket. With
// -v the build output goes to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/internal/imagebuild"
)

func main() {
	verbose := flag.Bool("v", false, "print build output to stderr")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		fail(err)
	}
	defer cli.Close()

	opts := imagebuild.TestAppOptions()
	if *verbose {
		opts.Log = os.Stderr
	} else {
		opts.Log = io.Discard
	}
	start := time.Now()
	img, err := imagebuild.Ensure(ctx, cli, opts)
	if err != nil {
		fail(err)
	}
	how := "reused"
	if img.Built {
		how = "built"
	}
	fmt.Fprintf(os.Stderr, "ensure-testapp: %s %s (%s) in %s\n", how, img.Ref, img.ID, time.Since(start).Round(time.Millisecond))
	fmt.Println(img.Ref)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "ensure-testapp: %v\n", err)
	os.Exit(1)
}
