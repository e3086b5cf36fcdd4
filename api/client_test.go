package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/store"
)

func TestClient(t *testing.T) {
	h := newHarness(t, nil)
	ts := httptest.NewServer(h.srv)
	defer ts.Close()
	ctx := context.Background()
	c := &api.Client{URL: ts.URL + "/"}

	created, err := c.CreateProduct(ctx, []byte(smallDoc("web")))
	if err != nil || created.RequestID == "" {
		t.Fatalf("%+v %v", created, err)
	}
	got, err := c.GetProduct(ctx, "web")
	if err != nil || got.Product.ID != created.ProductID || got.Versions[0].ID != created.VersionID {
		t.Fatalf("%+v %v", got, err)
	}
	list, err := c.ListProducts(ctx, store.ProductQuery{Name: "web", Text: "we", Page: 1, PageSize: 5, Newest: true})
	if err != nil || list.Total != 1 || list.PageSize != 5 {
		t.Fatalf("%+v %v", list, err)
	}

	// The same document again answers the same records.
	again, err := c.CreateProduct(ctx, []byte(smallDoc("web")))
	if err != nil || again.ProductID != created.ProductID || again.VersionID != created.VersionID {
		t.Fatalf("the same document again: %+v %v", again, err)
	}
	// Another one under the name is a duplicate.
	_, err = c.CreateProduct(ctx, []byte(strings.Replace(smallDoc("web"), "1.27", "1.28", 1)))
	var e *api.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Code != "400" || e.Message != api.MsgInvalidProduct ||
		len(e.Details) != 1 || e.RequestID == "" || !api.IsStatus(err, 400) {
		t.Fatalf("%#v", err)
	}
	want := `400 Invalid ProductName or StackDeps: product_name: a product named "web" already exists (request ` + e.RequestID + ")"
	if err.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", err, want)
	}

	if _, err := c.DeleteProduct(ctx, created.ProductID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteProduct(ctx, "web"); !api.IsStatus(err, 404) {
		t.Errorf("delete twice: %v", err)
	}
}

// An answer that is not the API's (a proxy's, say) still becomes an
// *Error with the status.
func TestClientForeignError(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "proxy-1")
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer ts.Close()
	_, err := (&api.Client{URL: ts.URL}).GetProduct(context.Background(), "x")
	var e *api.Error
	if !errors.As(err, &e) || e.Status != 502 || e.Message != "Bad Gateway" || e.Code != "502" || e.RequestID != "proxy-1" {
		t.Errorf("%#v", err)
	}
}
