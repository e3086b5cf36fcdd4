package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/store/memory"
)

// signed authenticates requests by a header a gateway sets, as an
// identity-aware proxy does, instead of a bearer token.
type signed struct{}

func (signed) Authenticate(r *http.Request) (*auth.Principal, error) {
	if r.Header.Get("X-Caller") == "" {
		return nil, auth.ErrUnauthenticated
	}
	return &auth.Principal{Name: r.Header.Get("X-Caller")}, nil
}

// A Client with its own http.Client and credentials, calling a server
// that traces its requests and reuses the caller's request IDs.
func ExampleClient_Authenticate() {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())

	srv := httptest.NewServer(api.New(memory.New(nil), nil, &api.Options{
		Authenticator: signed{}, TracerProvider: tp, ReuseRequestID: true,
	}))
	defer srv.Close()

	c := api.NewClient(srv.URL, srv.Client())
	c.Authenticate = func(r *http.Request) error {
		r.Header.Set("X-Caller", "billing")
		r.Header.Set("X-Request-Id", "billing-42")
		return nil
	}
	_, err := c.GetProduct(context.Background(), "web")
	fmt.Println(err)
	for _, s := range spans.GetSpans() {
		fmt.Println(s.Name)
	}
	// Output:
	// 404 Not found: no product "web" (request billing-42)
	// GET /api/products/{product}
}
