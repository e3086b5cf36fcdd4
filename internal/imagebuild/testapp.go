package imagebuild

import (
	"context"

	"github.com/moby/moby/client"
)

// The test application: the image every Docker test and the quickstart
// demo run (see internal/testapp for what it does).
const (
	TestAppPackage    = "github.com/stackwave/stackwave/internal/testapp"
	TestAppRepository = "stackwave-testapp"
)

// TestAppOptions are the Options of the test application image: binary
// /testapp, ENTRYPOINT ["/testapp"], run as root, tagged
// stackwave-testapp:HASH and stackwave-testapp:latest.
func TestAppOptions() Options {
	return Options{
		Package:    TestAppPackage,
		Repository: TestAppRepository,
		Binary:     "testapp",
	}
}

// EnsureTestApp makes sure the test application image for the current
// source exists, building it if needed, and returns its content-tagged
// reference (stackwave-testapp:HASH).
func EnsureTestApp(ctx context.Context, cli *client.Client) (ref string, err error) {
	img, err := Ensure(ctx, cli, TestAppOptions())
	return img.Ref, err
}
