// Package storetest is the conformance suite of *store.Store: every driver
// proves itself by passing Run, and benchmarks itself with Bench.
//
// A driver's test file needs a few lines:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) *store.Store {
//			s, err := mydriver.Open(t.Context(), ...)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Drivers that share a database between processes also run RunProcesses,
// which starts the test binary again as several OS processes to show that
// uniqueness holds between them and that a process killed in the middle
// of its writes leaves every acknowledged write and no half-written one.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stackwave/stackwave/internal/waitfor"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// Run runs the conformance suite. newStore must return a new, empty store
// with the driver's default options (store.DefaultMaxOperations in
// particular), and close it in t.Cleanup; Close may be called before that
// by the suite, and must then succeed again or return store.ErrClosed.
//
// Lease tests use TTLs of tens of milliseconds and wait for them to
// expire, so drivers must honour short TTLs; no test waits longer than
// about a tenth of a second.
func Run(t *testing.T, newStore func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store)
	}{
		{"Products/CreateGet", testCreateGetProduct},
		{"Products/KeepsGivenID", testProductGivenID},
		{"Products/DuplicateName", testDuplicateProductName},
		{"Products/Invalid", testInvalidProduct},
		{"Products/Copies", testProductCopies},
		{"Products/Update", testUpdateProduct},
		{"Products/UpdateStale", testUpdateProductStale},
		{"Products/UpdateRename", testRenameProduct},
		{"Products/Delete", testDeleteProduct},
		{"Products/DeleteInUse", testDeleteProductInUse},
		{"Products/Paging", testPaging},
		{"Products/PagingBounds", testPagingBounds},
		{"Products/FilterName", testFilterName},
		{"Products/FilterText", testFilterText},
		{"Products/Sort", testSort},
		{"Products/ConcurrentCreate", testConcurrentCreate},
		{"Versions/CreateGet", testCreateGetVersion},
		{"Versions/Invalid", testInvalidVersion},
		{"Versions/ContentHash", testContentHash},
		{"Versions/Update", testUpdateVersion},
		{"Versions/Immutable", testVersionImmutable},
		{"Versions/Delete", testDeleteVersion},
		{"Templates/CreateGet", testTemplates},
		{"Templates/VersionFromTemplate", testVersionFromTemplate},
		{"Deployments/CreateGet", testCreateGetDeployment},
		{"Deployments/Invalid", testInvalidDeployment},
		{"Deployments/List", testListDeployments},
		{"Deployments/Update", testUpdateDeployment},
		{"Deployments/UpdateStale", testUpdateDeploymentStale},
		{"Deployments/ConcurrentUpdate", testConcurrentUpdate},
		{"Deployments/HistoryCap", testHistoryCap},
		{"Deployments/VolumeStacks", testVolumeStacks},
		{"Deployments/Delete", testDeleteDeployment},
		{"Events/AppendList", testEvents},
		{"Events/Filter", testEventsFilter},
		{"Events/Invalid", testEventsInvalid},
		{"Events/WithRecord", testEventsWithRecord},
		{"Events/WithRecordSeen", testEventsWithRecordSeen},
		{"Leases/ReleasedWithRecord", testLeaseReleasedWithRecord},
		{"Leases/Acquire", testLeaseAcquire},
		{"Leases/Held", testLeaseHeld},
		{"Leases/Expired", testLeaseExpired},
		{"Leases/Renew", testLeaseRenew},
		{"Leases/Release", testLeaseRelease},
		{"Leases/Concurrent", testLeaseConcurrent},
		{"Leases/Invalid", testLeaseInvalid},
		{"BadInput", testBadInput},
		{"Cancelled", testCancelled},
		{"CancelledMidWrite", testCancelledMidWrite},
		{"Register/Atomic", testRegister},
		{"Register/Concurrent", testRegisterConcurrent},
		{"Subscribe/Events", testSubscribeEvents},
		{"Sealed/Values", testSealed},
		{"Sealed/Keyring", testKeyring},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// Open opens a store with open for a test, fails the test when it
// cannot, and closes the store when the test ends.
func Open(t testing.TB, open func(ctx context.Context) (*store.Store, error)) *store.Store {
	t.Helper()
	s, err := open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// RefusesNewerSchema checks that open fails, saying why, on a database
// whose schema a newer stackwave wrote.
func RefusesNewerSchema(t testing.TB, open func(ctx context.Context) (*store.Store, error)) {
	t.Helper()
	s, err := open(t.Context())
	if err == nil {
		s.Close()
		t.Fatal("opened a database of a newer schema")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

// Fixtures

// Spec returns a small valid stack_deps: one tier, one stack "web" with
// one service. Different tags give different content hashes.
func Spec(tag string) stack.Deps {
	return stack.Deps{{{
		Name: "web",
		Services: []stack.Service{{
			Name:     "app",
			UnitType: "1U1G",
			Image:    stack.Image{Name: "nginx", Tag: tag},
			Envs:     []string{"MODE=test"},
			AccessPoints: []stack.AccessPoint{{
				Type: stack.AccessDomain, BackendPorts: []int{80},
			}},
		}},
	}}}
}

func newProduct(name string) *product.Product {
	return &product.Product{
		Name:         name,
		ProviderName: "Acme",
		Description:  "a product called " + name,
		ProductType:  "web",
		Tags:         map[string]string{"team": "core"},
	}
}

func createProduct(t *testing.T, s *store.Store, name string) *product.Product {
	t.Helper()
	p, err := s.CreateProduct(t.Context(), newProduct(name))
	if err != nil {
		t.Fatalf("CreateProduct(%q): %v", name, err)
	}
	return p
}

func createVersion(t *testing.T, s *store.Store, productID, name string) *product.Version {
	t.Helper()
	v, err := s.CreateVersion(t.Context(), &product.Version{ProductID: productID, Name: name, StackDeps: Spec(name)})
	if err != nil {
		t.Fatalf("CreateVersion(%q): %v", name, err)
	}
	return v
}

func newDeployment(name string, v *product.Version) *store.Deployment {
	start := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	return &store.Deployment{
		Name:       name,
		ProductID:  v.ProductID,
		VersionID:  v.ID,
		Runtime:    "docker",
		Parameters: map[string]string{"replicas": "2", "domain": "example.test"},
		Status:     store.StatusUnderChange,
		Stacks:     []store.StackState{{Name: "web", Tier: 0, State: "Starting", UpdatedAt: start}},
		// db's volumes are older than the deployment's launch.
		VolumeStacks: []string{"db", "web"},
		Operations: []store.Operation{{
			ID: "op-1", Type: store.OpLaunch, Status: store.OpInProgress,
			ToVersionID: v.ID, NewVolumeStacks: []string{"web"}, Owner: "replica-a", StartedAt: start,
		}},
	}
}

// setup creates a product, a version and a deployment of it.
func setup(t *testing.T, s *store.Store, name string) (*product.Product, *product.Version, *store.Deployment) {
	t.Helper()
	p := createProduct(t, s, "product-"+name)
	v := createVersion(t, s, p.ID, "v1")
	d, err := s.CreateDeployment(t.Context(), newDeployment(name, v))
	if err != nil {
		t.Fatalf("CreateDeployment(%q): %v", name, err)
	}
	return p, v, d
}

var equate = cmp.Options{cmpopts.EquateEmpty()}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, equate); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

func wantInvalid(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ie *store.InvalidError
	switch {
	case !errors.Is(err, store.ErrInvalid):
		t.Errorf("%s: got error %v, want ErrInvalid", what, err)
	case !errors.As(err, &ie):
		t.Errorf("%s: error %v is not an *InvalidError", what, err)
	case field != "" && ie.Field != field:
		t.Errorf("%s: InvalidError.Field = %q, want %q (%v)", what, ie.Field, field, err)
	}
}

// Products

func testCreateGetProduct(t *testing.T, s *store.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	p, err := s.CreateProduct(ctx, newProduct("shop"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.ID, product.ProductIDPrefix) {
		t.Errorf("ID = %q, want prefix %q", p.ID, product.ProductIDPrefix)
	}
	if p.Revision != 1 {
		t.Errorf("Revision = %d, want 1", p.Revision)
	}
	if p.Visibility != product.Private {
		t.Errorf("Visibility = %q, want private by default", p.Visibility)
	}
	if p.CreatedAt.Before(before) || !p.UpdatedAt.Equal(p.CreatedAt) {
		t.Errorf("CreatedAt = %v, UpdatedAt = %v: want now, equal", p.CreatedAt, p.UpdatedAt)
	}
	want := newProduct("shop")
	want.ID, want.Visibility, want.Revision, want.CreatedAt, want.UpdatedAt = p.ID, product.Private, 1, p.CreatedAt, p.UpdatedAt
	diff(t, "created product", want, p)
	for _, key := range []string{p.ID, "shop"} {
		got, err := s.GetProduct(ctx, key)
		if err != nil {
			t.Fatalf("GetProduct(%q): %v", key, err)
		}
		diff(t, "GetProduct("+key+")", p, got)
	}
	_, err = s.GetProduct(ctx, "prod-unknown")
	wantErr(t, "GetProduct(unknown)", err, store.ErrNotFound)
}

func testProductGivenID(t *testing.T, s *store.Store) {
	ctx := t.Context()
	in := newProduct("given")
	in.ID = "prod-given-id"
	in.Visibility = product.Public
	p, err := s.CreateProduct(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != in.ID || p.Visibility != product.Public {
		t.Errorf("got ID %q visibility %q, want %q %q", p.ID, p.Visibility, in.ID, product.Public)
	}
	again := newProduct("other-name")
	again.ID = in.ID
	_, err = s.CreateProduct(ctx, again)
	wantErr(t, "CreateProduct(same ID)", err, store.ErrAlreadyExists)
	_, err = s.GetProduct(ctx, "other-name")
	wantErr(t, "GetProduct(refused)", err, store.ErrNotFound)
}

func testDuplicateProductName(t *testing.T, s *store.Store) {
	ctx := t.Context()
	first := createProduct(t, s, "dup")
	_, err := s.CreateProduct(ctx, newProduct("dup"))
	wantErr(t, "CreateProduct(dup)", err, store.ErrAlreadyExists)
	page, err := s.ListProducts(ctx, store.ProductQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 || len(page.Items) != 1 || page.Items[0].ID != first.ID {
		t.Errorf("after a refused duplicate: %d products (total %d), want only %s", len(page.Items), page.Total, first.ID)
	}
	// Names are case-sensitive.
	if _, err := s.CreateProduct(ctx, newProduct("DUP")); err != nil {
		t.Errorf("CreateProduct(DUP): %v", err)
	}
}

func testInvalidProduct(t *testing.T, s *store.Store) {
	ctx := t.Context()
	long := strings.Repeat("n", 129)
	cases := []struct {
		name  string
		p     *product.Product
		field string
	}{
		{"nil", nil, "product"},
		{"empty name", newProduct(""), "product_name"},
		{"blank name", newProduct("   "), "product_name"},
		{"long name", newProduct(long), "product_name"},
		{"control character", newProduct("a\x00b"), "product_name"},
		{"bad UTF-8", newProduct("a\xffb"), "product_name"},
		{"bad visibility", func() *product.Product { p := newProduct("x"); p.Visibility = "secret"; return p }(), "visibility"},
		{"no provider", func() *product.Product { p := newProduct("x"); p.ProviderName = ""; return p }(), "provider_name"},
		{"bad ID", func() *product.Product { p := newProduct("x"); p.ID = "a\nb"; return p }(), "product_id"},
	}
	for _, c := range cases {
		_, err := s.CreateProduct(ctx, c.p)
		wantInvalid(t, "CreateProduct("+c.name+")", err, c.field)
	}
	// The longest valid name is accepted.
	longest := newProduct(strings.Repeat("ü", 128))
	longest.Description = strings.Repeat("d", 128)
	if _, err := s.CreateProduct(ctx, longest); err != nil {
		t.Errorf("CreateProduct(128 characters): %v", err)
	}
	page, err := s.ListProducts(ctx, store.ProductQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 {
		t.Errorf("%d products stored, want only the valid one", page.Total)
	}
}

func testProductCopies(t *testing.T, s *store.Store) {
	ctx := t.Context()
	in := newProduct("copies")
	p, err := s.CreateProduct(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	in.Tags["team"] = "changed-input"
	p.Tags["team"] = "changed-output"
	p.Description = "changed"
	got, err := s.GetProduct(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tags["team"] != "core" || got.Description != "a product called copies" {
		t.Errorf("stored product changed through a returned or given value: %+v", got)
	}
	got.Tags["team"] = "changed-get"
	again, _ := s.GetProduct(ctx, p.ID)
	if again.Tags["team"] != "core" {
		t.Errorf("stored tags changed through GetProduct's result: %v", again.Tags)
	}
}

func testUpdateProduct(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "upd")
	p.ProviderName = "Other"
	p.Description = "new description"
	p.ProductType = "db"
	p.Visibility = product.Public
	p.Tags = map[string]string{"tier": "gold"}
	got, err := s.UpdateProduct(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != 2 {
		t.Errorf("Revision = %d, want 2", got.Revision)
	}
	if !got.CreatedAt.Equal(p.CreatedAt) || got.UpdatedAt.Before(p.CreatedAt) {
		t.Errorf("CreatedAt %v -> %v, UpdatedAt %v: want CreatedAt kept and UpdatedAt not before it", p.CreatedAt, got.CreatedAt, got.UpdatedAt)
	}
	want := *p
	want.Revision, want.UpdatedAt = 2, got.UpdatedAt
	diff(t, "updated product", &want, got)
	read, err := s.GetProduct(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "product read after update", got, read)

	unknown := newProduct("nobody")
	unknown.ID, unknown.Revision = "prod-unknown", 1
	_, err = s.UpdateProduct(ctx, unknown)
	wantErr(t, "UpdateProduct(unknown)", err, store.ErrNotFound)
	bad := *got
	bad.Name = ""
	_, err = s.UpdateProduct(ctx, &bad)
	wantInvalid(t, "UpdateProduct(empty name)", err, "product_name")
}

func testUpdateProductStale(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "stale")
	first := *p
	first.Description = "first writer"
	if _, err := s.UpdateProduct(ctx, &first); err != nil {
		t.Fatal(err)
	}
	second := *p // still at revision 1
	second.Description = "second writer"
	second.Name = "stale-renamed"
	_, err := s.UpdateProduct(ctx, &second)
	wantErr(t, "UpdateProduct(stale revision)", err, store.ErrConflict)
	got, err := s.GetProduct(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Description != "first writer" || got.Name != "stale" || got.Revision != 2 {
		t.Errorf("after a conflict: %q %q revision %d, want the first writer's record at revision 2", got.Name, got.Description, got.Revision)
	}
	future := *got
	future.Revision = 99
	_, err = s.UpdateProduct(ctx, &future)
	wantErr(t, "UpdateProduct(future revision)", err, store.ErrConflict)
}

func testRenameProduct(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := createProduct(t, s, "alpha")
	createProduct(t, s, "beta")
	a.Name = "beta"
	_, err := s.UpdateProduct(ctx, a)
	wantErr(t, "rename to a taken name", err, store.ErrAlreadyExists)
	a.Name = "gamma"
	if _, err := s.UpdateProduct(ctx, a); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetProduct(ctx, "alpha")
	wantErr(t, "GetProduct(old name)", err, store.ErrNotFound)
	if got, err := s.GetProduct(ctx, "gamma"); err != nil || got.ID != a.ID {
		t.Errorf("GetProduct(new name) = %v, %v; want %s", got, err, a.ID)
	}
	// The old name is free again.
	createProduct(t, s, "alpha")
}

func testDeleteProduct(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "doomed")
	v := createVersion(t, s, p.ID, "v1")
	keep := createProduct(t, s, "kept")
	kv := createVersion(t, s, keep.ID, "v1")
	if err := s.DeleteProduct(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetProduct(ctx, p.ID)
	wantErr(t, "GetProduct(deleted)", err, store.ErrNotFound)
	_, err = s.GetVersion(ctx, v.ID)
	wantErr(t, "GetVersion(of deleted product)", err, store.ErrNotFound)
	err = s.DeleteProduct(ctx, p.ID)
	wantErr(t, "DeleteProduct(again)", err, store.ErrNotFound)
	if _, err := s.GetVersion(ctx, kv.ID); err != nil {
		t.Errorf("version of another product: %v", err)
	}
	createProduct(t, s, "doomed") // the name is free again
}

func testDeleteProductInUse(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p, v, d := setup(t, s, "busy")
	err := s.DeleteProduct(ctx, p.ID)
	wantErr(t, "DeleteProduct(deployed)", err, store.ErrInUse)
	if _, err := s.GetProduct(ctx, p.ID); err != nil {
		t.Errorf("product after refused delete: %v", err)
	}
	if _, err := s.GetVersion(ctx, v.ID); err != nil {
		t.Errorf("version after refused delete: %v", err)
	}
	if err := s.DeleteDeployment(ctx, d.Name, d.Revision); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProduct(ctx, p.ID); err != nil {
		t.Errorf("DeleteProduct after the deployment is gone: %v", err)
	}
}

func createN(t *testing.T, s *store.Store, n int, name func(i int) string) []*product.Product {
	t.Helper()
	ps := make([]*product.Product, n)
	for i := range ps {
		ps[i] = createProduct(t, s, name(i))
	}
	return ps
}

func ids(ps []*product.Product) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func testPaging(t *testing.T, s *store.Store) {
	ctx := t.Context()
	all := createN(t, s, 25, func(i int) string { return fmt.Sprintf("paged-%02d", i) })
	sortByCreation(all)
	var got []*product.Product
	for page := 1; page <= 3; page++ {
		res, err := s.ListProducts(ctx, store.ProductQuery{Page: page, PageSize: 10})
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		wantLen := 10
		if page == 3 {
			wantLen = 5
		}
		if res.Total != 25 || res.Page != page || res.PageSize != 10 || len(res.Items) != wantLen {
			t.Errorf("page %d: total %d page %d size %d items %d; want 25 %d 10 %d", page, res.Total, res.Page, res.PageSize, len(res.Items), page, wantLen)
		}
		got = append(got, res.Items...)
	}
	diff(t, "pages 1 to 3", ids(all), ids(got))
	diff(t, "listed records", all, got)

	res, err := s.ListProducts(ctx, store.ProductQuery{Page: 4, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 0 || res.Total != 25 || res.Items == nil {
		t.Errorf("page past the end: %d items (nil %v), total %d; want an empty non-nil list and total 25", len(res.Items), res.Items == nil, res.Total)
	}
	res, err = s.ListProducts(ctx, store.ProductQuery{Page: 1000, PageSize: 100})
	if err != nil || len(res.Items) != 0 {
		t.Errorf("page 1000: %v items, %v", res, err)
	}
	res, err = s.ListProducts(ctx, store.ProductQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Page != 1 || res.PageSize != store.DefaultPageSize || len(res.Items) != store.DefaultPageSize {
		t.Errorf("zero query: page %d size %d items %d, want 1 %d %d", res.Page, res.PageSize, len(res.Items), store.DefaultPageSize, store.DefaultPageSize)
	}
	res, err = s.ListProducts(ctx, store.ProductQuery{PageSize: store.MaxPageSize})
	if err != nil || len(res.Items) != 25 {
		t.Errorf("page size %d: %v, %v; want all 25", store.MaxPageSize, res, err)
	}
}

func sortByCreation(ps []*product.Product) {
	// Products were created one after another, so creation order is the
	// order of the slice except for equal timestamps, which sort by ID.
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && less(ps[j], ps[j-1]); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func less(a, b *product.Product) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

func testPagingBounds(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createProduct(t, s, "one")
	for _, q := range []store.ProductQuery{
		{PageSize: store.MaxPageSize + 1},
		{PageSize: -1},
		{Page: -1},
		{Page: 1, PageSize: 1 << 30},
	} {
		_, err := s.ListProducts(ctx, q)
		wantInvalid(t, fmt.Sprintf("ListProducts(page %d, size %d)", q.Page, q.PageSize), err, "")
	}
	for _, size := range []int{1, store.MaxPageSize} {
		if _, err := s.ListProducts(ctx, store.ProductQuery{PageSize: size}); err != nil {
			t.Errorf("page size %d: %v", size, err)
		}
	}
	_, err := s.ListProducts(ctx, store.ProductQuery{Page: 1 << 40, PageSize: 100})
	if err != nil && !errors.Is(err, store.ErrInvalid) {
		t.Errorf("huge page: %v, want an empty page or ErrInvalid", err)
	}
}

func testFilterName(t *testing.T, s *store.Store) {
	ctx := t.Context()
	createN(t, s, 5, func(i int) string { return fmt.Sprintf("filter-%d", i) })
	res, err := s.ListProducts(ctx, store.ProductQuery{Name: "filter-3"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 || len(res.Items) != 1 || res.Items[0].Name != "filter-3" {
		t.Errorf("exact name: %+v", res)
	}
	for _, name := range []string{"filter", "FILTER-3", "filter-3 "} {
		res, err = s.ListProducts(ctx, store.ProductQuery{Name: name})
		if err != nil || res.Total != 0 || len(res.Items) != 0 {
			t.Errorf("exact name %q: %v, %v; want nothing", name, res, err)
		}
	}
}

func testFilterText(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mk := func(name, provider, desc string) {
		p := newProduct(name)
		p.ProviderName, p.Description = provider, desc
		if _, err := s.CreateProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	mk("Redis Cache", "Acme", "in-memory store")
	mk("Postgres", "DataCorp", "relational database")
	mk("Äpfel", "Obst GmbH", "frisch")
	mk("blog", "Acme", "a CACHE in front")
	cases := []struct {
		text string
		want []string
	}{
		{"cache", []string{"Redis Cache", "blog"}},
		{"CACHE", []string{"Redis Cache", "blog"}},
		{"datacorp", []string{"Postgres"}},
		{"relational", []string{"Postgres"}},
		{"äPFEL", []string{"Äpfel"}},
		{"acme", []string{"Redis Cache", "blog"}},
		{"nothing like it", nil},
		{"%", nil},
		{"_", nil},
	}
	for _, c := range cases {
		res, err := s.ListProducts(ctx, store.ProductQuery{Text: c.text, PageSize: 100})
		if err != nil {
			t.Errorf("text %q: %v", c.text, err)
			continue
		}
		var got []string
		for _, p := range res.Items {
			got = append(got, p.Name)
		}
		if res.Total != len(c.want) {
			t.Errorf("text %q: total %d, want %d", c.text, res.Total, len(c.want))
		}
		diff(t, "text "+c.text, c.want, got)
	}
	res, err := s.ListProducts(ctx, store.ProductQuery{Text: "cache", Name: "blog"})
	if err != nil || res.Total != 1 || len(res.Items) != 1 || res.Items[0].Name != "blog" {
		t.Errorf("text and name together: %v, %v", res, err)
	}
	res, err = s.ListProducts(ctx, store.ProductQuery{Text: "cache", PageSize: 1, Page: 2})
	if err != nil || res.Total != 2 || len(res.Items) != 1 || res.Items[0].Name != "blog" {
		t.Errorf("text, second page of one: %v, %v", res, err)
	}
}

func testSort(t *testing.T, s *store.Store) {
	ctx := t.Context()
	var created []*product.Product
	for i := range 4 {
		created = append(created, createProduct(t, s, fmt.Sprintf("sorted-%d", 3-i)))
	}
	// Equal creation times (a coarse clock) sort by ID.
	sortByCreation(created)
	res, err := s.ListProducts(ctx, store.ProductQuery{})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "oldest first", ids(created), ids(res.Items))
	res, err = s.ListProducts(ctx, store.ProductQuery{Newest: true})
	if err != nil {
		t.Fatal(err)
	}
	want := ids(created)
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	diff(t, "newest first", want, ids(res.Items))
	res, err = s.ListProducts(ctx, store.ProductQuery{Newest: true, PageSize: 3, Page: 2})
	if err != nil || len(res.Items) != 1 || res.Items[0].ID != created[0].ID {
		t.Errorf("newest first, page 2 of 3: %v, %v; want the oldest", res, err)
	}
}

// ConcurrentCreators is how many goroutines create the same product at
// once in the suite.
const ConcurrentCreators = 50

func testConcurrentCreate(t *testing.T, s *store.Store) {
	ctx := t.Context()
	start := make(chan struct{})
	errs := make([]error, ConcurrentCreators)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			<-start
			_, errs[i] = s.CreateProduct(ctx, newProduct("contended"))
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrAlreadyExists):
			t.Errorf("creator %d: %v, want success or ErrAlreadyExists", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d creators succeeded, want exactly 1", wins)
	}
	res, err := s.ListProducts(ctx, store.ProductQuery{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 || len(res.Items) != 1 {
		t.Errorf("%d products stored (total %d), want 1", len(res.Items), res.Total)
	}
}

// Versions

func testCreateGetVersion(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "versioned")
	in := &product.Version{ProductID: p.ID, Name: "1.0", Description: "first", Active: true, StackDeps: Spec("1.27")}
	v, err := s.CreateVersion(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.ID, product.VersionIDPrefix) || v.Revision != 1 || v.Guidance != product.GuidanceDefault {
		t.Errorf("ID %q revision %d guidance %q; want pv-..., 1, Default", v.ID, v.Revision, v.Guidance)
	}
	if v.ContentHash != product.Hash(Spec("1.27")) {
		t.Errorf("ContentHash = %q, want product.Hash of the spec", v.ContentHash)
	}
	want := *in
	want.ID, want.Guidance, want.ContentHash, want.Revision, want.CreatedAt, want.UpdatedAt =
		v.ID, product.GuidanceDefault, v.ContentHash, 1, v.CreatedAt, v.UpdatedAt
	diff(t, "created version", &want, v)
	got, err := s.GetVersion(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetVersion", v, got)

	in.StackDeps[0][0].Services[0].Image.Tag = "changed"
	got.StackDeps[0][0].Name = "changed"
	again, _ := s.GetVersion(ctx, v.ID)
	diff(t, "version after changing given and returned values", v, again)

	_, err = s.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "1.0", StackDeps: Spec("other")})
	wantErr(t, "CreateVersion(duplicate name)", err, store.ErrAlreadyExists)
	q := createProduct(t, s, "other")
	if _, err := s.CreateVersion(ctx, &product.Version{ProductID: q.ID, Name: "1.0", StackDeps: Spec("1.27")}); err != nil {
		t.Errorf("same version name under another product: %v", err)
	}
	_, err = s.CreateVersion(ctx, &product.Version{ProductID: "prod-unknown", Name: "1.0", StackDeps: Spec("x")})
	wantErr(t, "CreateVersion(unknown product)", err, store.ErrNotFound)
	_, err = s.GetVersion(ctx, "pv-unknown")
	wantErr(t, "GetVersion(unknown)", err, store.ErrNotFound)
	_, err = s.ListVersions(ctx, "prod-unknown", store.VersionQuery{})
	wantErr(t, "ListVersions(unknown product)", err, store.ErrNotFound)

	v2 := createVersion(t, s, p.ID, "2.0")
	list, err := s.ListVersions(ctx, p.ID, store.VersionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListVersions", []*product.Version{v, v2}, list)
}

func testInvalidVersion(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "p")
	bad := Spec("1")
	bad[0][0].Services[0].Image.Tag = ""
	cases := []struct {
		name  string
		v     *product.Version
		field string
	}{
		{"nil", nil, ""},
		{"no product", &product.Version{Name: "1", StackDeps: Spec("1")}, "product_id"},
		{"no name", &product.Version{ProductID: p.ID, StackDeps: Spec("1")}, "version_name"},
		{"long name", &product.Version{ProductID: p.ID, Name: strings.Repeat("v", 129), StackDeps: Spec("1")}, "version_name"},
		{"no spec", &product.Version{ProductID: p.ID, Name: "1"}, "stack_deps"},
		{"bad spec", &product.Version{ProductID: p.ID, Name: "1", StackDeps: bad}, "stack_deps[0][0].services[0].image.tag"},
		{"bad guidance", &product.Version{ProductID: p.ID, Name: "1", Guidance: "Best", StackDeps: Spec("1")}, "guidance"},
		{"bad template URL", &product.Version{ProductID: p.ID, Name: "1", TemplateURL: "http://x"}, "template_url"},
	}
	for _, c := range cases {
		_, err := s.CreateVersion(ctx, c.v)
		wantInvalid(t, "CreateVersion("+c.name+")", err, c.field)
	}
	list, err := s.ListVersions(ctx, p.ID, store.VersionQuery{})
	if err != nil || len(list) != 0 {
		t.Errorf("versions after invalid creates: %v, %v", list, err)
	}
}

func testContentHash(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "hashed")
	a := createVersion(t, s, p.ID, "a")
	b, err := s.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "b", StackDeps: Spec("a")})
	if err != nil {
		t.Fatal(err)
	}
	c := createVersion(t, s, p.ID, "c")
	if a.ContentHash != b.ContentHash || a.ContentHash == c.ContentHash {
		t.Errorf("hashes a %s b %s c %s: want a == b != c", a.ContentHash, b.ContentHash, c.ContentHash)
	}
	got, err := s.ListVersions(ctx, p.ID, store.VersionQuery{ContentHash: a.ContentHash})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "versions with a's hash", []*product.Version{a, b}, got)
	got, err = s.ListVersions(ctx, p.ID, store.VersionQuery{ContentHash: "sha256:none"})
	if err != nil || len(got) != 0 {
		t.Errorf("unknown hash: %v, %v", got, err)
	}
}

func testUpdateVersion(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "p")
	v := createVersion(t, s, p.ID, "1.0")
	v.Guidance, v.Active, v.Description = product.GuidanceRecommended, true, "use this"
	got, err := s.UpdateVersion(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	want := *v
	want.Revision, want.UpdatedAt = 2, got.UpdatedAt
	diff(t, "updated version", &want, got)
	read, _ := s.GetVersion(ctx, v.ID)
	diff(t, "version read after update", got, read)

	_, err = s.UpdateVersion(ctx, v) // revision 1 is stale now
	wantErr(t, "UpdateVersion(stale)", err, store.ErrConflict)
	unknown := *got
	unknown.ID = "pv-unknown"
	_, err = s.UpdateVersion(ctx, &unknown)
	wantErr(t, "UpdateVersion(unknown)", err, store.ErrNotFound)
	bad := *got
	bad.Guidance = "Best"
	_, err = s.UpdateVersion(ctx, &bad)
	wantInvalid(t, "UpdateVersion(bad guidance)", err, "guidance")
}

func testVersionImmutable(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "p")
	other := createProduct(t, s, "q")
	v := createVersion(t, s, p.ID, "1.0")
	changes := map[string]func(*product.Version){
		"stack_deps":   func(c *product.Version) { c.StackDeps = Spec("other") },
		"version_name": func(c *product.Version) { c.Name = "2.0" },
		"product_id":   func(c *product.Version) { c.ProductID = other.ID },
		"content_hash": func(c *product.Version) { c.ContentHash = "sha256:x" },
	}
	for field, change := range changes {
		c := *v
		c.Description = "sneaked in"
		change(&c)
		_, err := s.UpdateVersion(ctx, &c)
		wantInvalid(t, "UpdateVersion(changing "+field+")", err, field)
	}
	got, err := s.GetVersion(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "version after refused changes", v, got)
	// An unchanged spec sent back is fine.
	c := *got
	c.Active = true
	if _, err := s.UpdateVersion(ctx, &c); err != nil {
		t.Errorf("UpdateVersion with its own spec: %v", err)
	}
}

func testDeleteVersion(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p, v, d := setup(t, s, "dv")
	v2 := createVersion(t, s, p.ID, "v2")
	v3 := createVersion(t, s, p.ID, "v3")
	err := s.DeleteVersion(ctx, v.ID)
	wantErr(t, "DeleteVersion(deployed)", err, store.ErrInUse)
	d.TargetVersionID = v2.ID
	d, err = s.UpdateDeployment(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	err = s.DeleteVersion(ctx, v2.ID)
	wantErr(t, "DeleteVersion(target of a deployment)", err, store.ErrInUse)
	if err := s.DeleteVersion(ctx, v3.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetVersion(ctx, v3.ID)
	wantErr(t, "GetVersion(deleted)", err, store.ErrNotFound)
	err = s.DeleteVersion(ctx, v3.ID)
	wantErr(t, "DeleteVersion(again)", err, store.ErrNotFound)
	list, err := s.ListVersions(ctx, p.ID, store.VersionQuery{})
	if err != nil || len(list) != 2 {
		t.Errorf("versions left: %d, %v; want 2", len(list), err)
	}
	d.TargetVersionID = ""
	if _, err := s.UpdateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVersion(ctx, v2.ID); err != nil {
		t.Errorf("DeleteVersion(no longer targeted): %v", err)
	}
}

// Templates

func testTemplates(t *testing.T, s *store.Store) {
	ctx := t.Context()
	tpl, err := s.CreateTemplate(ctx, &store.Template{Description: "web tier", StackDeps: Spec("t")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tpl.ID, product.TemplateIDPrefix) || tpl.URL != store.TemplateURLPrefix+tpl.ID {
		t.Errorf("ID %q URL %q", tpl.ID, tpl.URL)
	}
	if tpl.ContentHash != product.Hash(Spec("t")) || tpl.CreatedAt.IsZero() {
		t.Errorf("ContentHash %q CreatedAt %v", tpl.ContentHash, tpl.CreatedAt)
	}
	for _, key := range []string{tpl.ID, tpl.URL} {
		got, err := s.GetTemplate(ctx, key)
		if err != nil {
			t.Fatalf("GetTemplate(%q): %v", key, err)
		}
		diff(t, "GetTemplate("+key+")", tpl, got)
	}
	_, err = s.GetTemplate(ctx, store.TemplateURLPrefix+"tpl-unknown")
	wantErr(t, "GetTemplate(unknown)", err, store.ErrNotFound)
	_, err = s.GetTemplate(ctx, "https://example.test/tpl-1")
	wantInvalid(t, "GetTemplate(not a template URL)", err, "")
	_, err = s.CreateTemplate(ctx, &store.Template{StackDeps: nil})
	wantInvalid(t, "CreateTemplate(empty spec)", err, "stack_deps")
	_, err = s.CreateTemplate(ctx, nil)
	wantInvalid(t, "CreateTemplate(nil)", err, "")
	given, err := s.CreateTemplate(ctx, &store.Template{ID: "tpl-given", StackDeps: Spec("t")})
	if err != nil || given.URL != store.TemplateURLPrefix+"tpl-given" {
		t.Errorf("template with a given ID: %v, %v", given, err)
	}
	_, err = s.CreateTemplate(ctx, &store.Template{ID: "tpl-given", StackDeps: Spec("t")})
	wantErr(t, "CreateTemplate(same ID)", err, store.ErrAlreadyExists)
}

func testVersionFromTemplate(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "templated")
	tpl, err := s.CreateTemplate(ctx, &store.Template{StackDeps: Spec("from-template")})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "1", TemplateURL: tpl.URL})
	if err != nil {
		t.Fatal(err)
	}
	if v.TemplateURL != tpl.URL || v.ContentHash != tpl.ContentHash {
		t.Errorf("TemplateURL %q ContentHash %q; want %q %q", v.TemplateURL, v.ContentHash, tpl.URL, tpl.ContentHash)
	}
	diff(t, "spec copied from the template", tpl.StackDeps, v.StackDeps)
	got, _ := s.GetVersion(ctx, v.ID)
	diff(t, "GetVersion", v, got)

	_, err = s.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "2", TemplateURL: store.TemplateURLPrefix + "tpl-unknown"})
	wantErr(t, "CreateVersion(unknown template)", err, store.ErrNotFound)
	same, err := s.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "3", TemplateURL: tpl.URL, StackDeps: Spec("from-template")})
	if err != nil || same.ContentHash != tpl.ContentHash {
		t.Errorf("version with a template and the same inline spec: %v, %v", same, err)
	}
	_, err = s.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "4", TemplateURL: tpl.URL, StackDeps: Spec("different")})
	wantInvalid(t, "CreateVersion(template and a different spec)", err, "stack_deps")
}

// Deployments

func testCreateGetDeployment(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "p")
	v := createVersion(t, s, p.ID, "1")
	in := newDeployment("web-1", v)
	d, err := s.CreateDeployment(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Revision != 1 || d.CreatedAt.IsZero() || !d.UpdatedAt.Equal(d.CreatedAt) {
		t.Errorf("revision %d created %v updated %v", d.Revision, d.CreatedAt, d.UpdatedAt)
	}
	want := *newDeployment("web-1", v)
	want.Revision, want.CreatedAt, want.UpdatedAt = 1, d.CreatedAt, d.UpdatedAt
	diff(t, "created deployment", &want, d)
	got, err := s.GetDeployment(ctx, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetDeployment", d, got)

	in.Parameters["replicas"] = "9"
	got.Operations[0].Status = store.OpFailed
	got.Stacks[0].State = "changed"
	got.VolumeStacks[0] = "changed"
	got.Operations[0].NewVolumeStacks[0] = "changed"
	again, _ := s.GetDeployment(ctx, "web-1")
	diff(t, "deployment after changing given and returned values", d, again)

	_, err = s.CreateDeployment(ctx, newDeployment("web-1", v))
	wantErr(t, "CreateDeployment(duplicate)", err, store.ErrAlreadyExists)
	_, err = s.GetDeployment(ctx, "web-2")
	wantErr(t, "GetDeployment(unknown)", err, store.ErrNotFound)

	plain, err := s.CreateDeployment(ctx, &store.Deployment{Name: "plain", ProductID: p.ID, VersionID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Status != store.StatusUnderChange {
		t.Errorf("empty status stored as %q, want UnderChange", plain.Status)
	}
}

// testVolumeStacks checks that the stacks whose volumes a deployment may
// hold are kept as written, emptied and filled again, by every update.
func testVolumeStacks(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, _, d := setup(t, s, "vols")
	for _, vols := range [][]string{nil, {"a"}, {"a", "b", "c"}, {"b"}} {
		d.VolumeStacks = vols
		d.Operations[0].NewVolumeStacks = vols
		var err error
		if d, err = s.UpdateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetDeployment(ctx, "vols")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.VolumeStacks, vols) || !slices.Equal(got.Operations[0].NewVolumeStacks, vols) {
			t.Errorf("wrote volume stacks %q, read %q and %q", vols, got.VolumeStacks, got.Operations[0].NewVolumeStacks)
		}
	}
}

func testInvalidDeployment(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "p")
	v := createVersion(t, s, p.ID, "1")
	q := createProduct(t, s, "q")
	qv := createVersion(t, s, q.ID, "1")
	with := func(f func(d *store.Deployment)) *store.Deployment {
		d := newDeployment("ok", v)
		f(d)
		return d
	}
	invalid := []struct {
		name  string
		d     *store.Deployment
		field string
	}{
		{"nil", nil, ""},
		{"empty name", with(func(d *store.Deployment) { d.Name = "" }), "name"},
		{"upper case", with(func(d *store.Deployment) { d.Name = "Web" }), "name"},
		{"long name", with(func(d *store.Deployment) { d.Name = strings.Repeat("a", 64) }), "name"},
		{"leading dash", with(func(d *store.Deployment) { d.Name = "-web" }), "name"},
		{"no product", with(func(d *store.Deployment) { d.ProductID = "" }), "product_id"},
		{"no version", with(func(d *store.Deployment) { d.VersionID = "" }), "product_version_id"},
		{"bad status", with(func(d *store.Deployment) { d.Status = "Happy" }), "status"},
		{"bad operation", with(func(d *store.Deployment) { d.Operations[0].Type = "dance" }), "operations[0].type"},
		{"NUL parameter", with(func(d *store.Deployment) { d.Parameters["x"] = "a\x00b" }), "parameters.x"},
		{"bad volume stack", with(func(d *store.Deployment) { d.VolumeStacks[1] = "" }), "volume_stacks[1]"},
		{"bad new volume stack", with(func(d *store.Deployment) { d.Operations[0].NewVolumeStacks[0] = "a\x00b" }), "operations[0].new_volume_stacks[0]"},
	}
	for _, c := range invalid {
		_, err := s.CreateDeployment(ctx, c.d)
		wantInvalid(t, "CreateDeployment("+c.name+")", err, c.field)
	}
	missing := []struct {
		name string
		d    *store.Deployment
	}{
		{"unknown product", with(func(d *store.Deployment) { d.ProductID = "prod-unknown" })},
		{"unknown version", with(func(d *store.Deployment) { d.VersionID = "pv-unknown" })},
		{"unknown target", with(func(d *store.Deployment) { d.TargetVersionID = "pv-unknown" })},
		{"version of another product", with(func(d *store.Deployment) { d.VersionID = qv.ID })},
	}
	for _, c := range missing {
		_, err := s.CreateDeployment(ctx, c.d)
		wantErr(t, "CreateDeployment("+c.name+")", err, store.ErrNotFound)
	}
	list, err := s.ListDeployments(ctx, store.DeploymentQuery{})
	if err != nil || len(list) != 0 {
		t.Errorf("deployments after refused creates: %v, %v", list, err)
	}
	if _, err := s.CreateDeployment(ctx, newDeployment(strings.Repeat("a", 63), v)); err != nil {
		t.Errorf("63-character name: %v", err)
	}
}

func testListDeployments(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "p")
	v1 := createVersion(t, s, p.ID, "1")
	v2 := createVersion(t, s, p.ID, "2")
	q := createProduct(t, s, "q")
	qv := createVersion(t, s, q.ID, "1")
	var all []*store.Deployment
	for _, c := range []struct {
		name   string
		v      *product.Version
		status store.Status
	}{
		{"charlie", v1, store.StatusAvailable},
		{"alpha", v2, store.StatusError},
		{"bravo", qv, store.StatusAvailable},
	} {
		d := newDeployment(c.name, c.v)
		d.Status = c.status
		got, err := s.CreateDeployment(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got)
	}
	names := func(ds []*store.Deployment) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Name)
		}
		return out
	}
	for _, c := range []struct {
		q    store.DeploymentQuery
		want []string
	}{
		{store.DeploymentQuery{}, []string{"alpha", "bravo", "charlie"}},
		{store.DeploymentQuery{ProductID: p.ID}, []string{"alpha", "charlie"}},
		{store.DeploymentQuery{VersionID: v1.ID}, []string{"charlie"}},
		{store.DeploymentQuery{Status: store.StatusAvailable}, []string{"bravo", "charlie"}},
		{store.DeploymentQuery{ProductID: p.ID, Status: store.StatusAvailable}, []string{"charlie"}},
		{store.DeploymentQuery{ProductID: "prod-unknown"}, nil},
	} {
		got, err := s.ListDeployments(ctx, c.q)
		if err != nil {
			t.Errorf("ListDeployments(%+v): %v", c.q, err)
			continue
		}
		diff(t, fmt.Sprintf("ListDeployments(%+v)", c.q), c.want, names(got))
	}
	got, _ := s.ListDeployments(ctx, store.DeploymentQuery{Status: store.StatusError})
	diff(t, "listed record", []*store.Deployment{all[1]}, got)
}

func testUpdateDeployment(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p, v, d := setup(t, s, "upd")
	v2 := createVersion(t, s, p.ID, "v2")
	end := time.Date(2025, 1, 2, 3, 5, 0, 0, time.UTC)
	d.Status = store.StatusAvailable
	d.TargetVersionID = v2.ID
	d.Parameters["replicas"] = "3"
	d.Stacks[0].State = "Running"
	d.Operations[0].Status, d.Operations[0].EndedAt, d.Operations[0].Message = store.OpSucceeded, end, "done"
	d.Operations = append(d.Operations, store.Operation{ID: "op-2", Type: store.OpUpdate, Status: store.OpInProgress, FromVersionID: v.ID, ToVersionID: v2.ID, StartedAt: end})
	got, err := s.UpdateDeployment(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	want := *d
	want.Revision, want.UpdatedAt = 2, got.UpdatedAt
	diff(t, "updated deployment", &want, got)
	if got.LastOperation().ID != "op-2" {
		t.Errorf("last operation %q, want op-2", got.LastOperation().ID)
	}
	read, _ := s.GetDeployment(ctx, d.Name)
	diff(t, "read after update", got, read)

	moved := *got
	q := createProduct(t, s, "other")
	qv := createVersion(t, s, q.ID, "1")
	moved.ProductID, moved.VersionID, moved.TargetVersionID = q.ID, qv.ID, ""
	_, err = s.UpdateDeployment(ctx, &moved)
	wantInvalid(t, "UpdateDeployment(other product)", err, "product_id")
	moved = *got
	moved.VersionID = "pv-unknown"
	_, err = s.UpdateDeployment(ctx, &moved)
	wantErr(t, "UpdateDeployment(unknown version)", err, store.ErrNotFound)
	gone := *got
	gone.Name = "nobody"
	_, err = s.UpdateDeployment(ctx, &gone)
	wantErr(t, "UpdateDeployment(unknown)", err, store.ErrNotFound)
	after, _ := s.GetDeployment(ctx, d.Name)
	diff(t, "after refused updates", got, after)
}

func testUpdateDeploymentStale(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, _, d := setup(t, s, "stale")
	first := *d
	first.Status = store.StatusAvailable
	stored, err := s.UpdateDeployment(ctx, &first)
	if err != nil {
		t.Fatal(err)
	}
	second := *d
	second.Status = store.StatusError
	second.Parameters = map[string]string{"x": "y"}
	_, err = s.UpdateDeployment(ctx, &second)
	wantErr(t, "UpdateDeployment(stale)", err, store.ErrConflict)
	got, _ := s.GetDeployment(ctx, d.Name)
	diff(t, "after a conflict", stored, got)
	err = s.DeleteDeployment(ctx, d.Name, d.Revision)
	wantErr(t, "DeleteDeployment(stale)", err, store.ErrConflict)
	if _, err := s.GetDeployment(ctx, d.Name); err != nil {
		t.Errorf("deployment after a refused delete: %v", err)
	}
}

func testConcurrentUpdate(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, _, d := setup(t, s, "race")
	const n = 10
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := *d
			c.Parameters = map[string]string{"writer": fmt.Sprint(i)}
			<-start
			_, errs[i] = s.UpdateDeployment(ctx, &c)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("writer %d: %v, want success or ErrConflict", i, err)
		}
	}
	got, _ := s.GetDeployment(ctx, d.Name)
	if wins != 1 || got.Revision != 2 {
		t.Errorf("%d writers succeeded, revision %d; want exactly 1 and revision 2", wins, got.Revision)
	}
}

func testHistoryCap(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, v, d := setup(t, s, "history")
	max := store.DefaultMaxOperations
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 2; i <= max+5; i++ {
		d.Operations = append(d.Operations, store.Operation{
			ID: fmt.Sprintf("op-%d", i), Type: store.OpRestart, Status: store.OpSucceeded,
			ToVersionID: v.ID, StartedAt: start.Add(time.Duration(i) * time.Minute),
		})
		if i%20 == 0 || i == max+5 { // grow the history over a few updates
			var err error
			if d, err = s.UpdateDeployment(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(d.Operations) != max {
		t.Fatalf("%d operations kept, want %d", len(d.Operations), max)
	}
	if first, last := d.Operations[0].ID, d.LastOperation().ID; first != "op-6" || last != fmt.Sprintf("op-%d", max+5) {
		t.Errorf("history from %s to %s, want op-6 to op-%d", first, last, max+5)
	}
	got, _ := s.GetDeployment(ctx, d.Name)
	diff(t, "stored history", d.Operations, got.Operations)

	over := newDeployment("born-long", v)
	for i := 2; i <= max+1; i++ {
		over.Operations = append(over.Operations, store.Operation{ID: fmt.Sprintf("op-%d", i), Type: store.OpStop, Status: store.OpSucceeded})
	}
	created, err := s.CreateDeployment(ctx, over)
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Operations) != max || created.Operations[0].ID != "op-2" {
		t.Errorf("created with %d operations: kept %d from %s; want %d from op-2", max+1, len(created.Operations), created.Operations[0].ID, max)
	}
}

func testDeleteDeployment(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, v, d := setup(t, s, "gone")
	if err := s.AppendEvents(ctx, d.Name, store.Event{OperationID: "op-1", Type: "started"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, d.Name, "replica-a", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDeployment(ctx, d.Name, d.Revision); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetDeployment(ctx, d.Name)
	wantErr(t, "GetDeployment(deleted)", err, store.ErrNotFound)
	_, err = s.ListEvents(ctx, d.Name, store.EventQuery{})
	wantErr(t, "ListEvents(deleted)", err, store.ErrNotFound)
	_, err = s.GetLease(ctx, d.Name)
	wantErr(t, "GetLease(deleted)", err, store.ErrNotFound)
	err = s.DeleteDeployment(ctx, d.Name, d.Revision)
	wantErr(t, "DeleteDeployment(again)", err, store.ErrNotFound)

	// The name is free again, with a fresh event log.
	if _, err := s.CreateDeployment(ctx, newDeployment(d.Name, v)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, d.Name, store.Event{OperationID: "op-1", Type: "started"}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.ListEvents(ctx, d.Name, store.EventQuery{})
	if err != nil || len(evs) != 1 || evs[0].Seq != 1 {
		t.Errorf("events of the new deployment: %v, %v; want one with Seq 1", evs, err)
	}
}

// Events

func events(op string, n int, from time.Time) []store.Event {
	evs := make([]store.Event, n)
	for i := range evs {
		evs[i] = store.Event{
			OperationID: op,
			Time:        from.Add(time.Duration(i) * time.Second),
			Type:        "StackStarting",
			Stack:       "web",
			Service:     "app",
			Message:     fmt.Sprintf("%s event %d", op, i),
		}
	}
	return evs
}

func testEvents(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, _, d := setup(t, s, "ev")
	from := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	first := events("op-1", 3, from)
	second := events("op-1", 2, from.Add(time.Minute))
	if err := s.AppendEvents(ctx, d.Name, first...); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, d.Name, second...); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, d.Name); err != nil {
		t.Errorf("AppendEvents(none): %v", err)
	}
	want := append(append([]store.Event{}, first...), second...)
	for i := range want {
		want[i].Seq = int64(i) + 1
	}
	got, err := s.ListEvents(ctx, d.Name, store.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "all events", want, got)
	got, _ = s.ListEvents(ctx, d.Name, store.EventQuery{AfterSeq: 2, Limit: 2})
	diff(t, "after 2, limit 2", want[2:4], got)
	got, _ = s.ListEvents(ctx, d.Name, store.EventQuery{AfterSeq: 5})
	if len(got) != 0 {
		t.Errorf("after the last: %v", got)
	}
	got, _ = s.ListEvents(ctx, d.Name, store.EventQuery{AfterSeq: 1 << 40})
	if len(got) != 0 {
		t.Errorf("after far past the last: %v", got)
	}

	before := time.Now().Add(-time.Second)
	if err := s.AppendEvents(ctx, d.Name, store.Event{OperationID: "op-1", Type: "Done"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ListEvents(ctx, d.Name, store.EventQuery{AfterSeq: 5})
	if len(got) != 1 || got[0].Seq != 6 || got[0].Time.Before(before) {
		t.Errorf("event without a time: %+v; want Seq 6 stamped now", got)
	}
	err = s.AppendEvents(ctx, "nobody", first...)
	wantErr(t, "AppendEvents(unknown deployment)", err, store.ErrNotFound)
	_, err = s.ListEvents(ctx, "nobody", store.EventQuery{})
	wantErr(t, "ListEvents(unknown deployment)", err, store.ErrNotFound)
}

// testEventsWithRecord checks UpdateDeployment with WithEvents: the
// record and the events are written together, or neither is.
func testEventsWithRecord(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, _, d := setup(t, s, "evr")
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.AppendEvents(ctx, d.Name, events("op-1", 2, start)...); err != nil {
		t.Fatal(err)
	}
	ended := func(from *store.Deployment) *store.Deployment {
		c := from.Clone()
		c.Status = store.StatusAvailable
		c.Operations[0].Status = store.OpSucceeded
		c.Operations[0].EndedAt = start.Add(time.Minute)
		return c
	}
	last := []store.Event{
		{OperationID: "op-1", Time: start.Add(time.Minute), Type: "stack-ready", Stack: "web"},
		{OperationID: "op-1", Type: "operation-done", Message: "launch succeeded"},
	}
	unchanged := func(what string) {
		t.Helper()
		got, err := s.GetDeployment(ctx, d.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.Revision != d.Revision || got.Status != store.StatusUnderChange {
			t.Errorf("%s: record at revision %d, status %s; want it unchanged (%d, %s)", what, got.Revision, got.Status, d.Revision, store.StatusUnderChange)
		}
		evs, err := s.ListEvents(ctx, d.Name, store.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 {
			t.Errorf("%s: %d events in the log, want the 2 appended before", what, len(evs))
		}
	}

	// A stale revision writes neither.
	stale := ended(d)
	stale.Revision = d.Revision - 1
	_, err := s.UpdateDeployment(ctx, stale, store.WithEvents(last...))
	wantErr(t, "UpdateDeployment(stale, WithEvents)", err, store.ErrConflict)
	unchanged("after a conflict")

	// A bad event refuses the record too, naming the event's field.
	bad := slices.Clone(last)
	bad[1].Type = ""
	_, err = s.UpdateDeployment(ctx, ended(d), store.WithEvents(bad...))
	wantInvalid(t, "UpdateDeployment(event without a type)", err, "events[1].type")
	unchanged("after a bad event")

	// A bad record refuses the events.
	moved := ended(d)
	moved.ProductID = "prod-other"
	_, err = s.UpdateDeployment(ctx, moved, store.WithEvents(last...))
	wantInvalid(t, "UpdateDeployment(other product, WithEvents)", err, "product_id")
	unchanged("after a bad record")
	gone := ended(d)
	gone.Name = "nobody"
	_, err = s.UpdateDeployment(ctx, gone, store.WithEvents(last...))
	wantErr(t, "UpdateDeployment(unknown, WithEvents)", err, store.ErrNotFound)
	unchanged("after an unknown deployment")

	// Success writes both; the events are numbered on and stamped as by
	// AppendEvents; a later WithEvents replaces an earlier one.
	before := time.Now().Add(-time.Second)
	got, err := s.UpdateDeployment(ctx, ended(d), store.WithEvents(events("op-1", 5, start)...), store.WithEvents(last...))
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != d.Revision+1 || got.Status != store.StatusAvailable {
		t.Errorf("updated record at revision %d, status %s; want %d, %s", got.Revision, got.Status, d.Revision+1, store.StatusAvailable)
	}
	stored, err := s.GetDeployment(ctx, d.Name)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "stored record", got, stored)
	evs, err := s.ListEvents(ctx, d.Name, store.EventQuery{AfterSeq: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("events after the update: %+v; want the 2 given with it", evs)
	}
	if evs[0].Seq != 3 || evs[0].Type != "stack-ready" || !evs[0].Time.Equal(last[0].Time) {
		t.Errorf("first event %+v; want Seq 3, stack-ready at %v", evs[0], last[0].Time)
	}
	if evs[1].Seq != 4 || evs[1].Type != "operation-done" || evs[1].Time.Before(before) {
		t.Errorf("last event %+v; want Seq 4, operation-done, stamped now", evs[1])
	}

	// Without events (or with none), UpdateDeployment appends nothing.
	stored.Parameters = map[string]string{"x": "y"}
	if stored, err = s.UpdateDeployment(ctx, stored, store.WithEvents()); err != nil {
		t.Fatal(err)
	}
	if _, err = s.UpdateDeployment(ctx, stored, nil); err != nil {
		t.Fatal(err)
	}
	if evs, _ := s.ListEvents(ctx, d.Name, store.EventQuery{}); len(evs) != 4 {
		t.Errorf("%d events after updates without events, want 4", len(evs))
	}
}

// testLeaseReleasedWithRecord checks UpdateDeployment with
// ReleasingLease: the lease goes with the record and the events, or
// nothing is written.
func testLeaseReleasedWithRecord(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, _, d := setup(t, s, "lrr")
	if _, err := s.AcquireLease(ctx, d.Name, "replica-a", time.Hour); err != nil {
		t.Fatal(err)
	}
	end := store.Event{OperationID: "op-1", Type: "operation-done"}
	ended := d.Clone()
	ended.Status = store.StatusAvailable
	ended.Operations[0].Status = store.OpSucceeded
	unchanged := func(what string, owner string) {
		t.Helper()
		got, err := s.GetDeployment(ctx, d.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.Revision != d.Revision {
			t.Errorf("%s: record at revision %d, want %d", what, got.Revision, d.Revision)
		}
		if evs, _ := s.ListEvents(ctx, d.Name, store.EventQuery{}); len(evs) != 0 {
			t.Errorf("%s: events %+v appended", what, evs)
		}
		l, err := s.GetLease(ctx, d.Name)
		switch {
		case owner == "" && !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s: lease %+v, %v; want none", what, l, err)
		case owner != "" && (err != nil || l.Owner != owner):
			t.Errorf("%s: lease %+v, %v; want %s's", what, l, err, owner)
		}
	}

	// Another owner's lease refuses the whole write.
	_, err := s.UpdateDeployment(ctx, ended, store.WithEvents(end), store.ReleasingLease("replica-b"))
	wantErr(t, "UpdateDeployment(ReleasingLease of another owner)", err, store.ErrLeaseHeld)
	var held *store.LeaseHeldError
	if !errors.As(err, &held) || held.Owner != "replica-a" {
		t.Errorf("UpdateDeployment(ReleasingLease of another owner): %v; want a *LeaseHeldError naming replica-a", err)
	}
	unchanged("after another owner's release", "replica-a")
	// So does a stale revision, keeping the lease.
	stale := ended.Clone()
	stale.Revision--
	_, err = s.UpdateDeployment(ctx, stale, store.WithEvents(end), store.ReleasingLease("replica-a"))
	wantErr(t, "UpdateDeployment(stale, ReleasingLease)", err, store.ErrConflict)
	unchanged("after a conflict", "replica-a")
	_, err = s.UpdateDeployment(ctx, ended, store.ReleasingLease(""))
	wantInvalid(t, "UpdateDeployment(ReleasingLease without an owner)", err, "owner")
	unchanged("after a bad owner", "replica-a")

	// RenewLease extends the holder's lease, and no other's.
	if l, err := s.RenewLease(ctx, d.Name, "replica-a", 2*time.Hour); err != nil || l.Owner != "replica-a" || l.ExpiresAt.Sub(l.AcquiredAt) < time.Hour+time.Minute {
		t.Errorf("RenewLease by the holder: %+v, %v; want it extended", l, err)
	}
	_, err = s.RenewLease(ctx, d.Name, "replica-b", time.Hour)
	wantErr(t, "RenewLease(another owner)", err, store.ErrLeaseHeld)

	// The owner's release goes with the record and the events, and wakes
	// the subscribers of releases.
	rel := s.SubscribeReleases()
	defer rel.Close()
	drain(rel)
	got, err := s.UpdateDeployment(ctx, ended, store.WithEvents(end), store.ReleasingLease("replica-a"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusAvailable || got.Revision != d.Revision+1 {
		t.Errorf("updated record %s at revision %d", got.Status, got.Revision)
	}
	if l, err := s.GetLease(ctx, d.Name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lease after the update: %+v, %v; want none", l, err)
	}
	if evs, err := s.ListEvents(ctx, d.Name, store.EventQuery{}); err != nil || len(evs) != 1 {
		t.Errorf("events after the update: %+v, %v; want the one given", evs, err)
	}
	select {
	case <-rel.Changed():
	default:
		t.Error("a lease released with the record woke no subscriber of releases")
	}
	// A renewal racing the release does not take the lease again.
	_, err = s.RenewLease(ctx, d.Name, "replica-a", time.Hour)
	wantErr(t, "RenewLease(released)", err, store.ErrNotFound)
	if l, err := s.GetLease(ctx, d.Name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lease after a renewal of a released one: %+v, %v; want none", l, err)
	}
	// The lease is free for the next owner.
	if _, err := s.AcquireLease(ctx, d.Name, "replica-b", time.Hour); err != nil {
		t.Errorf("the next owner's lease: %v", err)
	}

	// No lease: nothing is written.
	if err := s.ReleaseLease(ctx, d.Name, "replica-b"); err != nil {
		t.Fatal(err)
	}
	again := got.Clone()
	again.Parameters = map[string]string{"x": "y"}
	_, err = s.UpdateDeployment(ctx, again, store.WithEvents(end), store.ReleasingLease("replica-a"))
	wantErr(t, "UpdateDeployment(ReleasingLease, no lease)", err, store.ErrNotFound)
	if cur, _ := s.GetDeployment(ctx, d.Name); cur.Revision != got.Revision {
		t.Errorf("record at revision %d after a refused update, want %d", cur.Revision, got.Revision)
	}
}

// testEventsWithRecordSeen has a reader follow a writer that ends
// operations with UpdateDeployment and WithEvents: whenever the reader
// sees an operation's last event, the record it reads next shows the
// operation ended, and whenever the record shows it ended, its last event
// is in the log.
func testEventsWithRecordSeen(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, _, d := setup(t, s, "evs")
	const ops = 30
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			cur := d
			for i := range ops {
				id := fmt.Sprintf("op-%d", i+2)
				c := cur.Clone()
				c.Status = store.StatusUnderChange
				c.Operations = append(c.Operations, store.Operation{ID: id, Type: store.OpUpdate, Status: store.OpInProgress})
				var err error
				if cur, err = s.UpdateDeployment(ctx, c, store.WithEvents(store.Event{OperationID: id, Type: "operation-started"})); err != nil {
					return err
				}
				c = cur.Clone()
				c.Status = store.StatusAvailable
				c.Operations[len(c.Operations)-1].Status = store.OpSucceeded
				if cur, err = s.UpdateDeployment(ctx, c, store.WithEvents(store.Event{OperationID: id, Type: "operation-done"})); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
	ended := func(d *store.Deployment, id string) bool {
		op := d.Operation(id)
		return op != nil && op.Status == store.OpSucceeded
	}
	for seen := 0; seen < ops; {
		// Events first, then the record: the record is at least as new.
		evs, err := s.ListEvents(ctx, d.Name, store.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := s.GetDeployment(ctx, d.Name)
		if err != nil {
			t.Fatal(err)
		}
		seen = 0
		for _, e := range evs {
			if e.Type == "operation-done" {
				seen++
				if !ended(rec, e.OperationID) {
					t.Fatalf("event %d says %s ended; the record read after it does not: %+v", e.Seq, e.OperationID, rec.Operation(e.OperationID))
				}
			}
		}
		// The record, then the events: every ended operation's last
		// event is there.
		rec, err = s.GetDeployment(ctx, d.Name)
		if err != nil {
			t.Fatal(err)
		}
		evs, err = s.ListEvents(ctx, d.Name, store.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		last := map[string]bool{}
		for _, e := range evs {
			if e.Type == "operation-done" {
				last[e.OperationID] = true
			}
		}
		for _, op := range rec.Operations[1:] {
			if op.Status == store.OpSucceeded && !last[op.ID] {
				t.Fatalf("the record says %s ended; the log read after it has not its last event", op.ID)
			}
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			done <- nil
		default:
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func testEventsFilter(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, _, d := setup(t, s, "evf")
	from := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var all []store.Event
	for i := range 3 {
		all = append(all, events("op-a", 1, from)...)
		all = append(all, events("op-b", 1, from)...)
		all[2*i].Message += fmt.Sprint(i)
	}
	if err := s.AppendEvents(ctx, d.Name, all...); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListEvents(ctx, d.Name, store.EventQuery{OperationID: "op-a"})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, e := range got {
		seqs = append(seqs, e.Seq)
	}
	diff(t, "op-a seqs", []int64{1, 3, 5}, seqs)
	got, _ = s.ListEvents(ctx, d.Name, store.EventQuery{OperationID: "op-a", AfterSeq: 1, Limit: 1})
	if len(got) != 1 || got[0].Seq != 3 {
		t.Errorf("op-a after 1 limit 1: %+v, want Seq 3", got)
	}
	got, _ = s.ListEvents(ctx, d.Name, store.EventQuery{OperationID: "op-c"})
	if len(got) != 0 {
		t.Errorf("unknown operation: %v", got)
	}
}

func testEventsInvalid(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, _, d := setup(t, s, "evi")
	ok := store.Event{OperationID: "op-1", Type: "t"}
	for _, c := range []struct {
		name  string
		e     store.Event
		field string
	}{
		{"no operation", store.Event{Type: "t"}, "events[1].operation_id"},
		{"no type", store.Event{OperationID: "op-1"}, "events[1].type"},
		{"NUL message", store.Event{OperationID: "op-1", Type: "t", Message: "a\x00"}, "events[1].message"},
		{"bad UTF-8", store.Event{OperationID: "op-1", Type: "t", Stack: "\xff"}, "events[1].stack_name"},
	} {
		err := s.AppendEvents(ctx, d.Name, ok, c.e)
		wantInvalid(t, "AppendEvents("+c.name+")", err, c.field)
	}
	got, err := s.ListEvents(ctx, d.Name, store.EventQuery{})
	if err != nil || len(got) != 0 {
		t.Errorf("events after refused appends: %v, %v; want none (all or nothing)", got, err)
	}
	for _, q := range []store.EventQuery{{Limit: -1}, {AfterSeq: -1}} {
		_, err := s.ListEvents(ctx, d.Name, q)
		wantInvalid(t, fmt.Sprintf("ListEvents(%+v)", q), err, "")
	}
	err = s.AppendEvents(ctx, "Not A Label", ok)
	wantInvalid(t, "AppendEvents(bad name)", err, "deployment")
}

// Leases

func testLeaseAcquire(t *testing.T, s *store.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	l, err := s.AcquireLease(ctx, "free", "replica-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if l.Deployment != "free" || l.Owner != "replica-a" || l.Expired {
		t.Errorf("lease %+v", l)
	}
	if l.AcquiredAt.Before(before) || l.ExpiresAt.Sub(l.AcquiredAt) != time.Hour {
		t.Errorf("acquired %v expires %v: want now and an hour later", l.AcquiredAt, l.ExpiresAt)
	}
	got, err := s.GetLease(ctx, "free")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetLease", l, got)
	_, err = s.GetLease(ctx, "never-leased")
	wantErr(t, "GetLease(none)", err, store.ErrNotFound)
}

func testLeaseHeld(t *testing.T, s *store.Store) {
	ctx := t.Context()
	l, err := s.AcquireLease(ctx, "held", "replica-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AcquireLease(ctx, "held", "replica-b", time.Hour)
	wantErr(t, "AcquireLease(other owner)", err, store.ErrLeaseHeld)
	var lh *store.LeaseHeldError
	if !errors.As(err, &lh) {
		t.Fatalf("error %v is not a *LeaseHeldError", err)
	}
	if lh.Owner != "replica-a" || lh.Deployment != "held" || !lh.ExpiresAt.Equal(l.ExpiresAt) {
		t.Errorf("LeaseHeldError %+v, want replica-a until %v", lh, l.ExpiresAt)
	}
	got, _ := s.GetLease(ctx, "held")
	diff(t, "lease after a refused take-over", l, got)
}

// shortTTL is the lease TTL of tests that wait for expiry.
const shortTTL = 40 * time.Millisecond

// waitExpired waits until the store reports the lease expired. The store
// judges expiry by its own clock (a database server's, maybe not this
// process's), which only real time advances: it is asked again every few
// milliseconds, and the deadline of minutes only guards against a lease
// that never expires.
func waitExpired(t *testing.T, s *store.Store, deployment string, l *store.Lease) {
	t.Helper()
	var got *store.Lease
	var err error
	expired := waitfor.True(waitfor.Generous, 5*time.Millisecond, func() bool {
		got, err = s.GetLease(t.Context(), deployment)
		return err != nil || got.Expired
	})
	if err != nil {
		t.Fatal(err)
	}
	if !expired {
		t.Fatalf("lease %+v not expired %v after its TTL of %v", got, waitfor.Generous, shortTTL)
	}
}

func testLeaseExpired(t *testing.T, s *store.Store) {
	ctx := t.Context()
	l, err := s.AcquireLease(ctx, "expiring", "replica-a", shortTTL)
	if err != nil {
		t.Fatal(err)
	}
	waitExpired(t, s, "expiring", l)
	got, err := s.AcquireLease(ctx, "expiring", "replica-b", time.Hour)
	if err != nil {
		t.Fatalf("taking an expired lease: %v", err)
	}
	if got.Owner != "replica-b" || got.Expired || got.AcquiredAt.Before(l.AcquiredAt) {
		t.Errorf("taken lease %+v", got)
	}
	err = s.ReleaseLease(ctx, "expiring", "replica-a")
	wantErr(t, "ReleaseLease(by the former owner)", err, store.ErrLeaseHeld)
	_, err = s.AcquireLease(ctx, "expiring", "replica-a", time.Hour)
	wantErr(t, "AcquireLease(former owner)", err, store.ErrLeaseHeld)
}

func testLeaseRenew(t *testing.T, s *store.Store) {
	ctx := t.Context()
	l, err := s.AcquireLease(ctx, "renewed", "replica-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.AcquireLease(ctx, "renewed", "replica-a", 2*time.Hour)
	if err != nil {
		t.Fatalf("renewing: %v", err)
	}
	if !r.AcquiredAt.Equal(l.AcquiredAt) || !r.ExpiresAt.After(l.ExpiresAt) || r.Owner != "replica-a" {
		t.Errorf("renewed %+v from %+v: want the same AcquiredAt and a later expiry", r, l)
	}
	got, _ := s.GetLease(ctx, "renewed")
	diff(t, "renewed lease", r, got)

	// An owner whose lease expired before anyone took it may take it back.
	short, err := s.AcquireLease(ctx, "lapsed", "replica-a", shortTTL)
	if err != nil {
		t.Fatal(err)
	}
	waitExpired(t, s, "lapsed", short)
	back, err := s.AcquireLease(ctx, "lapsed", "replica-a", time.Hour)
	if err != nil || back.Expired {
		t.Errorf("renewing a lapsed lease: %+v, %v", back, err)
	}
}

func testLeaseRelease(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if _, err := s.AcquireLease(ctx, "released", "replica-a", time.Hour); err != nil {
		t.Fatal(err)
	}
	err := s.ReleaseLease(ctx, "released", "replica-b")
	wantErr(t, "ReleaseLease(not the owner)", err, store.ErrLeaseHeld)
	if _, err := s.GetLease(ctx, "released"); err != nil {
		t.Errorf("lease after a refused release: %v", err)
	}
	if err := s.ReleaseLease(ctx, "released", "replica-a"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetLease(ctx, "released")
	wantErr(t, "GetLease(released)", err, store.ErrNotFound)
	err = s.ReleaseLease(ctx, "released", "replica-a")
	wantErr(t, "ReleaseLease(again)", err, store.ErrNotFound)
	if _, err := s.AcquireLease(ctx, "released", "replica-b", time.Hour); err != nil {
		t.Errorf("taking a released lease: %v", err)
	}
}

func testLeaseConcurrent(t *testing.T, s *store.Store) {
	ctx := t.Context()
	const n = 10
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.AcquireLease(ctx, "contended", fmt.Sprintf("replica-%d", i), time.Hour)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrLeaseHeld):
			t.Errorf("owner %d: %v, want success or ErrLeaseHeld", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d owners took the lease, want exactly 1", wins)
	}
}

func testLeaseInvalid(t *testing.T, s *store.Store) {
	ctx := t.Context()
	for _, c := range []struct {
		name              string
		deployment, owner string
		ttl               time.Duration
		field             string
	}{
		{"zero TTL", "d", "o", 0, "ttl"},
		{"negative TTL", "d", "o", -time.Second, "ttl"},
		{"no owner", "d", "", time.Second, "owner"},
		{"bad deployment", "D D", "o", time.Second, "deployment"},
	} {
		_, err := s.AcquireLease(ctx, c.deployment, c.owner, c.ttl)
		wantInvalid(t, "AcquireLease("+c.name+")", err, c.field)
	}
	wantInvalid(t, "ReleaseLease(no owner)", s.ReleaseLease(ctx, "d", ""), "owner")
	_, err := s.GetLease(ctx, "")
	wantInvalid(t, "GetLease(empty)", err, "deployment")
}

// Robustness

// call runs f, turning a panic into a test failure.
func call(t *testing.T, what string, f func() error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v\n%s", what, r, debug.Stack())
			err = errors.New("panic")
		}
	}()
	return f()
}

func testBadInput(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, v, d := setup(t, s, "bad")
	long := strings.Repeat("x", 10000)
	for _, key := range []string{"", long, "\x00", "\xff\xfe", "a\nb"} {
		for what, f := range map[string]func() error{
			"GetProduct":    func() error { _, err := s.GetProduct(ctx, key); return err },
			"DeleteProduct": func() error { return s.DeleteProduct(ctx, key) },
			"GetVersion":    func() error { _, err := s.GetVersion(ctx, key); return err },
			"ListVersions": func() error {
				_, err := s.ListVersions(ctx, key, store.VersionQuery{})
				return err
			},
			"DeleteVersion":    func() error { return s.DeleteVersion(ctx, key) },
			"GetTemplate":      func() error { _, err := s.GetTemplate(ctx, key); return err },
			"GetDeployment":    func() error { _, err := s.GetDeployment(ctx, key); return err },
			"DeleteDeployment": func() error { return s.DeleteDeployment(ctx, key, 1) },
			"AppendEvents":     func() error { return s.AppendEvents(ctx, key, store.Event{OperationID: "o", Type: "t"}) },
			"ListEvents":       func() error { _, err := s.ListEvents(ctx, key, store.EventQuery{}); return err },
			"GetLease":         func() error { _, err := s.GetLease(ctx, key); return err },
			"ReleaseLease":     func() error { return s.ReleaseLease(ctx, key, "o") },
			"AcquireLease":     func() error { _, err := s.AcquireLease(ctx, key, "o", time.Second); return err },
			"AcquireLease(owner)": func() error {
				_, err := s.AcquireLease(ctx, "d", key, time.Second)
				return err
			},
			"ListProducts(name)": func() error {
				_, err := s.ListProducts(ctx, store.ProductQuery{Name: key})
				if key == "" && err == nil {
					return store.ErrInvalid // an empty name means no filter
				}
				return err
			},
			"ListVersions(hash)": func() error {
				_, err := s.ListVersions(ctx, v.ProductID, store.VersionQuery{ContentHash: key})
				if key == "" && err == nil {
					return store.ErrInvalid // an empty hash means no filter
				}
				return err
			},
			"ListDeployments": func() error {
				_, err := s.ListDeployments(ctx, store.DeploymentQuery{ProductID: key})
				if key == "" && err == nil {
					return store.ErrInvalid
				}
				return err
			},
		} {
			err := call(t, what, f)
			if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s(%.20q): %v, want ErrInvalid or ErrNotFound", what, key, err)
			}
		}
	}
	for what, f := range map[string]func() error{
		"CreateProduct(nil)":    func() error { _, err := s.CreateProduct(ctx, nil); return err },
		"UpdateProduct(nil)":    func() error { _, err := s.UpdateProduct(ctx, nil); return err },
		"CreateVersion(nil)":    func() error { _, err := s.CreateVersion(ctx, nil); return err },
		"UpdateVersion(nil)":    func() error { _, err := s.UpdateVersion(ctx, nil); return err },
		"CreateTemplate(nil)":   func() error { _, err := s.CreateTemplate(ctx, nil); return err },
		"CreateDeployment(nil)": func() error { _, err := s.CreateDeployment(ctx, nil); return err },
		"UpdateDeployment(nil)": func() error { _, err := s.UpdateDeployment(ctx, nil); return err },
		"UpdateProduct(no ID)": func() error {
			_, err := s.UpdateProduct(ctx, newProduct("x"))
			return err
		},
		"UpdateVersion(no ID)": func() error {
			_, err := s.UpdateVersion(ctx, &product.Version{})
			return err
		},
		"CreateVersion(long spec name)": func() error {
			deps := Spec("1")
			deps[0][0].Name = long
			_, err := s.CreateVersion(ctx, &product.Version{ProductID: v.ProductID, Name: "x", StackDeps: deps})
			return err
		},
		"UpdateDeployment(long runtime)": func() error {
			c := *d
			c.Runtime = long
			_, err := s.UpdateDeployment(ctx, &c)
			return err
		},
		"CreateDeployment(bad UTF-8 message)": func() error {
			c := newDeployment("utf", v)
			c.Operations[0].Message = "\xff"
			_, err := s.CreateDeployment(ctx, c)
			return err
		},
	} {
		err := call(t, what, f)
		wantInvalid(t, what, err, "")
	}
}

func testCancelled(t *testing.T, s *store.Store) {
	_, v, d := setup(t, s, "cancel")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p := newProduct("never")
	for what, f := range map[string]func() error{
		"CreateProduct": func() error { _, err := s.CreateProduct(ctx, p); return err },
		"GetProduct":    func() error { _, err := s.GetProduct(ctx, v.ProductID); return err },
		"ListProducts":  func() error { _, err := s.ListProducts(ctx, store.ProductQuery{}); return err },
		"CreateVersion": func() error {
			_, err := s.CreateVersion(ctx, &product.Version{ProductID: v.ProductID, Name: "never", StackDeps: Spec("n")})
			return err
		},
		"GetVersion":     func() error { _, err := s.GetVersion(ctx, v.ID); return err },
		"CreateTemplate": func() error { _, err := s.CreateTemplate(ctx, &store.Template{StackDeps: Spec("n")}); return err },
		"UpdateDeployment": func() error {
			c := *d
			c.Status = store.StatusError
			_, err := s.UpdateDeployment(ctx, &c)
			return err
		},
		"GetDeployment": func() error { _, err := s.GetDeployment(ctx, d.Name); return err },
		"AppendEvents": func() error {
			return s.AppendEvents(ctx, d.Name, store.Event{OperationID: "o", Type: "t"})
		},
		"AcquireLease":  func() error { _, err := s.AcquireLease(ctx, d.Name, "o", time.Hour); return err },
		"DeleteProduct": func() error { return s.DeleteProduct(ctx, v.ProductID) },
	} {
		err := call(t, what, f)
		wantErr(t, what+" with a cancelled context", err, context.Canceled)
	}
	live := t.Context()
	if _, err := s.GetProduct(live, "never"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("product created under a cancelled context: %v", err)
	}
	got, err := s.GetDeployment(live, d.Name)
	if err != nil || got.Revision != 1 || got.Status != d.Status {
		t.Errorf("deployment changed under a cancelled context: %+v, %v", got, err)
	}
	if evs, _ := s.ListEvents(live, d.Name, store.EventQuery{}); len(evs) != 0 {
		t.Errorf("events appended under a cancelled context: %v", evs)
	}
	if _, err := s.GetLease(live, d.Name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lease taken under a cancelled context: %v", err)
	}
}

func testClosed(t *testing.T, s *store.Store) {
	ctx := t.Context()
	p := createProduct(t, s, "closing")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetProduct(ctx, p.ID)
	wantErr(t, "GetProduct after Close", err, store.ErrClosed)
	_, err = s.CreateProduct(ctx, newProduct("after"))
	wantErr(t, "CreateProduct after Close", err, store.ErrClosed)
	_, err = s.AcquireLease(ctx, "d", "o", time.Second)
	wantErr(t, "AcquireLease after Close", err, store.ErrClosed)
	if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// CancelRounds is how many writes testCancelledMidWrite cancels at
// random moments.
const CancelRounds = 150

// testCancelledMidWrite cancels writes at every moment of their course,
// from before they start to after they commit, and checks that each one
// either happened whole and reported success, or did not happen and
// reported the context's error; and that the store takes writes normally
// after all of them.
func testCancelledMidWrite(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, _, d := setup(t, s, "midwrite")
	for i := range CancelRounds {
		// Deadlines from 0 to 300µs, the span of a write on a fast
		// driver: some expire before the write starts, some during it,
		// some after it.
		wctx, cancel := context.WithTimeout(ctx, time.Duration(i%31)*10*time.Microsecond)
		name := fmt.Sprintf("mid-%d", i)
		var err error
		var kind string
		switch i % 3 {
		case 0:
			kind = "AcquireLease"
			_, err = s.AcquireLease(wctx, name, "owner", time.Hour)
		case 1:
			kind = "CreateProduct"
			_, err = s.CreateProduct(wctx, newProduct(name))
		default:
			kind = "AppendEvents"
			err = s.AppendEvents(wctx, d.Name, store.Event{OperationID: "op-1", Type: "t", Message: name})
		}
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s %d: %v, want nil or context.DeadlineExceeded", kind, i, err)
		}
		var written bool
		switch kind {
		case "AcquireLease":
			_, gerr := s.GetLease(ctx, name)
			if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
				t.Fatal(gerr)
			}
			written = gerr == nil
		case "CreateProduct":
			_, gerr := s.GetProduct(ctx, name)
			if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
				t.Fatal(gerr)
			}
			written = gerr == nil
		default:
			evs, lerr := s.ListEvents(ctx, d.Name, store.EventQuery{})
			if lerr != nil {
				t.Fatal(lerr)
			}
			written = slices.ContainsFunc(evs, func(e store.Event) bool { return e.Message == name })
		}
		if written != (err == nil) {
			t.Fatalf("%s %d returned %v but the write was stored: %v", kind, i, err, written)
		}
		// The store is not left in a state that refuses later writes.
		if _, err := s.AcquireLease(ctx, "after-"+name, "owner", time.Hour); err != nil {
			t.Fatalf("a write after cancelled %s %d: %v", kind, i, err)
		}
	}
}
