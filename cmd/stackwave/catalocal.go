package main

import (
	"context"
	"net/http"
	"net/http/httptest"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
)

// localAPI serves the API of package api on the local store inside this
// process, for the catalog commands run without --server: they then
// take the same code path, print the same and exit alike in both modes.
// The server has no authorizer: the local store's user may do everything
// with it, as with the store itself.
func localAPI(ctx context.Context, b *backendFlags) (*api.Client, func(), error) {
	st, err := b.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	ex := deploy.New(nil, st, nil)
	srv := api.New(st, ex, nil)
	c := &api.Client{URL: "http://stackwave.local", HTTPClient: &http.Client{Transport: handlerTransport{srv}}}
	return c, func() { srv.CloseStreams(); ex.Close(); st.Close() }, nil
}

// handlerTransport answers requests with a handler, in process. The
// catalog routes answer at once, so the whole response is recorded
// before it is returned.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}
