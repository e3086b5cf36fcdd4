package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
	"github.com/stackwave/stackwave/store/sqlite"
)

// Load tests run on loopback against an httptest server, with a bounded
// number of requests.
const (
	loadDistinct = 200
	loadSameName = 50
)

func loadStores(t *testing.T) map[string]func() *store.Store {
	return map[string]func() *store.Store{
		"memory": func() *store.Store { return memory.New(nil) },
		"sqlite": func() *store.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "stackwave.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
}

// burst sends n requests at once, each from its own goroutine, and
// returns their statuses and how long the burst took.
func burst(t *testing.T, url string, n int, body func(i int) string) ([]int, []error, time.Duration) {
	t.Helper()
	tr := &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n, MaxConnsPerHost: n}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	statuses, errs := make([]int, n), make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			c := &api.Client{URL: url, HTTPClient: hc}
			_, err := c.CreateProduct(context.Background(), []byte(body(i)))
			var e *api.Error
			switch {
			case err == nil:
				statuses[i] = 200
			case errors.As(err, &e):
				statuses[i], errs[i] = e.Status, e
			default:
				statuses[i], errs[i] = -1, err
			}
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	return statuses, errs, time.Since(t0)
}

func TestLoadDistinctCreates(t *testing.T) {
	for name, open := range loadStores(t) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, &harnessOptions{store: open()})
			ts := httptest.NewServer(h.srv)
			defer ts.Close()
			statuses, errs, took := burst(t, ts.URL, loadDistinct, func(i int) string { return smallDoc(fmt.Sprintf("load-%03d", i)) })
			for i, s := range statuses {
				if s != 200 {
					t.Errorf("create %d: %d %v", i, s, errs[i])
				}
			}
			t.Logf("%s: %d concurrent creates in %v: %.0f requests/s", name, loadDistinct, took.Round(time.Millisecond), float64(loadDistinct)/took.Seconds())

			// Every product is listed, once.
			c := &api.Client{URL: ts.URL}
			seen := map[string]bool{}
			for page := 1; ; page++ {
				l, err := c.ListProducts(context.Background(), store.ProductQuery{Page: page, PageSize: store.MaxPageSize})
				if err != nil {
					t.Fatal(err)
				}
				if l.Total != loadDistinct {
					t.Fatalf("total %d, want %d", l.Total, loadDistinct)
				}
				if len(l.Products) == 0 {
					break
				}
				for _, p := range l.Products {
					if seen[p.Name] {
						t.Errorf("%s listed twice", p.Name)
					}
					seen[p.Name] = true
				}
			}
			for i := range loadDistinct {
				if n := fmt.Sprintf("load-%03d", i); !seen[n] {
					t.Errorf("%s not listed", n)
				}
			}
		})
	}
}

func TestLoadSameName(t *testing.T) {
	for name, open := range loadStores(t) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, &harnessOptions{store: open()})
			ts := httptest.NewServer(h.srv)
			defer ts.Close()
			statuses, errs, took := burst(t, ts.URL, loadSameName, func(int) string { return smallDoc("contended") })
			// Creates of one document are one registration: each answers
			// the records of the first.
			for i, s := range statuses {
				if s != 200 {
					t.Errorf("create %d: %d %v", i, s, errs[i])
				}
			}
			t.Logf("%s: %d concurrent creates of one name in %v", name, loadSameName, took.Round(time.Millisecond))
			page, err := h.st.ListProducts(context.Background(), store.ProductQuery{})
			if err != nil || page.Total != 1 {
				t.Fatalf("%d products stored, %v", page.Total, err)
			}
			if vs, err := h.st.ListVersions(context.Background(), page.Items[0].ID, store.VersionQuery{}); err != nil || len(vs) != 1 {
				t.Errorf("%d versions stored, %v", len(vs), err)
			}
			// Another document under the name is a duplicate.
			other := strings.Replace(smallDoc("contended"), "1.27", "1.28", 1)
			e := wantError(t, h.do("POST", "/api/products", other), 400, api.MsgInvalidProduct)
			if len(e.Details) != 1 || e.Details[0].Field != "product_name" || e.Details[0].Type != "Duplicate" {
				t.Errorf("another document under the name: %+v", e.Details)
			}
		})
	}
}
