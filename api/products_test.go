package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

func TestCreateProduct(t *testing.T) {
	h := newHarness(t, nil)
	res := h.do("POST", "/api/products", seedDoc(t))
	if res.status != 200 {
		t.Fatal(res)
	}
	var out map[string]string
	res.decode(t, &out)
	if len(out) != 3 || !strings.HasPrefix(out["product_id"], "prod-") || !strings.HasPrefix(out["product_version_id"], "pv-") || out["request_id"] != "req-1" {
		t.Errorf("body %s", res.body)
	}
	if res.header.Get("X-Request-Id") != "req-1" || res.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", res.header)
	}

	var got api.ProductResponse
	h.must("GET", "/api/products/kodo-double", "", &got)
	p := got.Product
	if p.ID != out["product_id"] || p.Name != "kodo-double" || p.ProviderName != "anonymous" || p.Visibility != product.Private {
		t.Errorf("product %+v", p)
	}
	if len(got.Versions) != 1 {
		t.Fatalf("versions %+v", got.Versions)
	}
	v := got.Versions[0]
	if v.ID != out["product_version_id"] || v.Name != api.DefaultVersionName || !v.Active || v.Guidance != product.GuidanceDefault {
		t.Errorf("version %+v", v)
	}
	// Env values may be secrets: responses hide them.
	if envs := v.StackDeps[0][0].Services[0].Envs; len(envs) != 1 || envs[0] != "MYSQL_ALLOW_EMPTY_PASSWORD=<redacted>" {
		t.Errorf("envs %q", envs)
	}
	// By ID too, and the store keeps the values.
	h.must("GET", "/api/products/"+p.ID, "", &got)
	sv, _ := h.st.GetVersion(context.Background(), v.ID)
	if sv.StackDeps[0][0].Services[0].Envs[0] != "MYSQL_ALLOW_EMPTY_PASSWORD=1" {
		t.Errorf("stored envs %q", sv.StackDeps[0][0].Services[0].Envs)
	}
}

func TestCreateProductCatalogFields(t *testing.T) {
	h := newHarness(t, &harnessOptions{api: api.Options{ShowEnvValues: true}})
	doc := strings.Replace(smallDoc("web"), `"product_name": "web",`, `"product_name": "web", "provider_name": "acme",
	 "description": "a web server", "product_type": "app", "visibility": "public", "tags": {"team": "edge"},
	 "version_name": "1.0", "version_description": "first", "guidance": "Recommended", "active": false,`, 1)
	pid, vid := h.create(doc)
	var got api.ProductResponse
	h.must("GET", "/api/products/"+pid, "", &got)
	p, v := got.Product, got.Versions[0]
	if p.ProviderName != "acme" || p.Description != "a web server" || p.ProductType != "app" || p.Visibility != product.Public || p.Tags["team"] != "edge" {
		t.Errorf("product %+v", p)
	}
	if v.ID != vid || v.Name != "1.0" || v.Description != "first" || v.Guidance != product.GuidanceRecommended || v.Active {
		t.Errorf("version %+v", v)
	}
	if envs := v.StackDeps[0][0].Services[0].Envs; envs[0] != "API_KEY=sup3r-s3cret" {
		t.Errorf("ShowEnvValues: envs %q", envs)
	}
}

// The seed API's error bodies, with the request ID added and a detail
// naming the field as written, with its line and column.
func TestCreateProductInvalidArgs(t *testing.T) {
	for _, c := range []struct {
		name, body, field, detail string
	}{
		{"malformed", `{"product_name": "x", "stack_deps": [`, "stack_deps", "line 1, column 38: malformed JSON: unexpected end of input"},
		{"wrong type", strings.Replace(seedDoc(t), `"service_name": "mysql-1",`, `"service_name": "mysql-1", "instances": "two",`, 1),
			"stack_deps[0][0].services[0].instances", `line 4, column 49: expected integer, got string "two"`},
		{"unknown field", strings.Replace(seedDoc(t), `"product_name"`, `"product_nmae"`, 1), "product_nmae", `line 1, column 2: unknown field "product_nmae"`},
		{"wrong case", strings.Replace(seedDoc(t), `"product_name"`, `"Product_Name"`, 1), "Product_Name", `line 1, column 2: unknown field "Product_Name"; names are case-sensitive: did you mean "product_name"?`},
		{"twice", strings.Replace(seedDoc(t), `"product_name": "kodo-double",`, `"product_name": "kodo-double", "product_name": "evil",`, 1),
			"product_name", `line 1, column 33: duplicate field "product_name": a name may appear once in an object`},
		{"invalid UTF-8", strings.Replace(seedDoc(t), `"kodo-double"`, "\"kodo\xff\"", 1), "product_name", "line 1, column 23: invalid UTF-8 in a string"},
		{"not an object", `[]`, "", "the body must be a JSON object"},
		{"empty", ``, "", "the body must be a JSON object"},
		{"YAML", "product_name: x\nstack_deps: []\n", "", "the body must be a JSON object"},
		{"trailing data", `{"product_name": "x"} {}`, "", "line 1, column 23: unexpected data after the top-level value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, nil)
			res := h.do("POST", "/api/products", c.body)
			e := wantError(t, res, 400, api.MsgInvalidProductArgs)
			if len(e.Details) != 1 || e.Details[0] != (api.Detail{Field: c.field, Type: "Invalid", Detail: c.detail}) {
				t.Errorf("details %+v\nwant %q: %s", e.Details, c.field, c.detail)
			}
		})
	}
}

func TestCreateProductRulesBroken(t *testing.T) {
	h := newHarness(t, nil)
	doc := strings.Replace(seedDoc(t), `"tag": "latest"`, `"tag": ""`, 1)
	doc = strings.Replace(doc, `"stack_name": "kodo-2"`, `"stack_name": "Kodo_2"`, 1)
	res := h.do("POST", "/api/products", doc)
	want := `{"message":"Invalid ProductName or StackDeps","code":"400","details":[` +
		`{"field":"stack_deps[0][0].services[0].image.tag","type":"Required","detail":"must not be empty unless a digest is given"},` +
		`{"field":"stack_deps[1][1].stack_name","type":"Invalid","detail":"must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit"}` +
		`],"request_id":"req-1"}` + "\n"
	if res.status != 400 || string(res.body) != want {
		t.Errorf("got  %s\nwant %s", res, want)
	}

	// A name that is taken is one more problem, listed first.
	h.create(strings.Replace(seedDoc(t), `"product_name": "kodo-double",`, `"product_name": "kodo-double", "version_name": "first",`, 1))
	res = h.do("POST", "/api/products", doc)
	want = strings.Replace(want, `"details":[`, `"details":[{"field":"product_name","type":"Duplicate","detail":"a product named \"kodo-double\" already exists"},`, 1)
	want = strings.Replace(want, "req-1", "req-3", 1)
	if res.status != 400 || string(res.body) != want {
		t.Errorf("got  %s\nwant %s", res, want)
	}
	// Alone, too, for a document other than the one registered; the
	// same document again answers the records it made.
	res = h.do("POST", "/api/products", strings.Replace(seedDoc(t), `"tag": "latest"`, `"tag": "other"`, 1))
	want = `{"message":"Invalid ProductName or StackDeps","code":"400","details":[{"field":"product_name","type":"Duplicate","detail":"a product named \"kodo-double\" already exists"}],"request_id":"req-4"}` + "\n"
	if res.status != 400 || string(res.body) != want {
		t.Errorf("got  %s\nwant %s", res, want)
	}
	// Every problem is reported, each with its field.
	res = h.do("POST", "/api/products", `{"product_name": "", "visibility": "secret", "stack_deps": []}`)
	e := wantError(t, res, 400, api.MsgInvalidProduct)
	var fields []string
	for _, d := range e.Details {
		fields = append(fields, d.Field+":"+d.Type)
	}
	if got := strings.Join(fields, " "); got != "product_name:Required visibility:NotSupported stack_deps:Required" {
		t.Errorf("details %s", got)
	}
	// A template that does not exist.
	res = h.do("POST", "/api/products", `{"product_name": "t", "template_url": "stackwave://templates/tpl-0000000000000000"}`)
	e = wantError(t, res, 400, api.MsgInvalidProduct)
	if len(e.Details) != 1 || e.Details[0] != (api.Detail{Field: "template_url", Type: "NotFound", Detail: "no template stackwave://templates/tpl-0000000000000000"}) {
		t.Errorf("details %+v", e.Details)
	}
}

func TestCreateProductFromTemplate(t *testing.T) {
	h := newHarness(t, nil)
	var tpl api.TemplateResponse
	h.must("POST", "/api/templates", `{"description": "one web stack", "stack_deps": [[{"stack_name": "web", "services": [
	  {"service_name": "nginx", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.27"}}]}]]}`, &tpl)
	if !strings.HasPrefix(tpl.TemplateURL, "stackwave://templates/tpl-") || tpl.Template.ContentHash == "" {
		t.Fatalf("template %+v", tpl)
	}
	_, vid := h.create(`{"product_name": "from-template", "template_url": "` + tpl.TemplateURL + `"}`)
	var v api.VersionResponse
	h.must("GET", "/api/versions/"+vid, "", &v)
	if v.Version.TemplateURL != tpl.TemplateURL || v.Version.ContentHash != tpl.Template.ContentHash || v.Version.StackDeps[0][0].Name != "web" {
		t.Errorf("version %+v", v.Version)
	}
}

// failingStore makes chosen calls of its driver fail, or panic.
type failingStore struct {
	store.Driver
	st                                                        *store.Store
	createProduct, createVersion, deleteProduct, listProducts error
	panicOnGet                                                bool
}

// failingTx is a transaction of a failingStore.
type failingTx struct {
	store.Tx
	fs *failingStore
}

func (s *failingStore) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	return s.Driver.Update(ctx, opts, func(tx store.Tx) error { return fn(&failingTx{Tx: tx, fs: s}) })
}

func (t *failingTx) InsertProduct(ctx context.Context, p *product.Product) error {
	if t.fs.createProduct != nil {
		return t.fs.createProduct
	}
	return t.Tx.InsertProduct(ctx, p)
}

func (t *failingTx) InsertVersion(ctx context.Context, v *product.Version) error {
	if t.fs.createVersion != nil {
		return t.fs.createVersion
	}
	return t.Tx.InsertVersion(ctx, v)
}

func (t *failingTx) DeleteProduct(ctx context.Context, id string) error {
	if t.fs.deleteProduct != nil {
		return t.fs.deleteProduct
	}
	return t.Tx.DeleteProduct(ctx, id)
}

func (s *failingStore) ListProducts(ctx context.Context, q store.ProductList) ([]*product.Product, int, error) {
	if s.listProducts != nil {
		return nil, 0, s.listProducts
	}
	return s.Driver.ListProducts(ctx, q)
}

func (s *failingStore) Product(ctx context.Context, id string) (*product.Product, error) {
	if s.panicOnGet {
		panic("store exploded at /secret/path")
	}
	return s.Driver.Product(ctx, id)
}

func newFailing() (*failingStore, *store.Store) {
	fs := &failingStore{Driver: memory.NewDriver()}
	fs.st = store.New(fs, nil)
	return fs, fs.st
}

func TestCreateProductStoreError(t *testing.T) {
	cause := errors.New("disk on fire at /var/lib/stackwave")
	for _, which := range []string{"product", "version"} {
		t.Run(which, func(t *testing.T) {
			fs, m := newFailing()
			if which == "product" {
				fs.createProduct = cause
			} else {
				fs.createVersion = cause
			}
			h := newHarness(t, &harnessOptions{store: fs.st})
			res := h.do("POST", "/api/products", seedDoc(t))
			want := `{"message":"Create Product Error","code":"623","request_id":"req-1"}` + "\n"
			if res.status != 623 || string(res.body) != want {
				t.Errorf("got  %s\nwant %s", res, want)
			}
			if !strings.Contains(h.log.String(), "disk on fire") || !strings.Contains(h.log.String(), "req-1") {
				t.Errorf("the log lacks the cause:\n%s", h.log)
			}
			// A product whose version failed is never stored.
			page, _ := m.ListProducts(context.Background(), store.ProductQuery{})
			if page.Total != 0 {
				t.Errorf("%d products left", page.Total)
			}
		})
	}
	// A failure while checking a taken name is a store failure too.
	fs, _ := newFailing()
	fs.listProducts = cause
	h := newHarness(t, &harnessOptions{store: fs.st})
	res := h.do("POST", "/api/products", `{"product_name": "x", "stack_deps": []}`)
	wantError(t, res, 623, api.MsgCreateProductError)
}

func TestListProducts(t *testing.T) {
	h := newHarness(t, nil)
	for _, n := range []string{"alpha", "beta", "gamma", "delta", "epsilon"} {
		h.create(smallDoc(n))
	}
	var page api.ProductList
	h.must("GET", "/api/products?page_size=2&page_number=2", "", &page)
	if page.Total != 5 || page.PageNumber != 2 || page.PageSize != 2 || len(page.Products) != 2 ||
		page.Products[0].Name != "gamma" || page.Products[1].Name != "delta" {
		t.Errorf("page %+v", page)
	}
	h.must("GET", "/api/products?product_name=beta", "", &page)
	if page.Total != 1 || page.Products[0].Name != "beta" {
		t.Errorf("by name %+v", page)
	}
	h.must("GET", "/api/products?q=LTA", "", &page)
	if page.Total != 1 || page.Products[0].Name != "delta" {
		t.Errorf("fuzzy %+v", page)
	}
	h.must("GET", "/api/products?newest=true&page_size=1", "", &page)
	if page.Products[0].Name != "epsilon" {
		t.Errorf("newest %+v", page)
	}
	h.must("GET", "/api/products?page_number=9", "", &page)
	if page.Total != 5 || len(page.Products) != 0 {
		t.Errorf("past the end %+v", page)
	}

	res := h.do("GET", "/api/products?page_size=500&page_number=x&pagesize=1", "")
	e := wantError(t, res, 400, api.MsgInvalidRequest)
	var got []string
	for _, d := range e.Details {
		got = append(got, d.Field+":"+d.Type)
	}
	if strings.Join(got, " ") != "pagesize:NotSupported" {
		t.Errorf("details %+v", e.Details)
	}
	res = h.do("GET", "/api/products?page_size=500&page_number=x", "")
	e = wantError(t, res, 400, api.MsgInvalidRequest)
	if len(e.Details) != 2 || e.Details[0].Field != "page_number" || e.Details[1].Field != "page_size" {
		t.Errorf("details %+v", e.Details)
	}
	res = h.do("GET", "/api/products?q=a&q=b", "")
	wantError(t, res, 400, api.MsgInvalidRequest)
}

func TestUpdateProduct(t *testing.T) {
	h := newHarness(t, nil)
	pid, _ := h.create(smallDoc("web"))
	h.create(smallDoc("other"))
	var got api.ProductResponse
	h.must("PATCH", "/api/products/web", `{"description": "new", "tags": {"a": "b"}, "revision": 1}`, &got)
	if got.Product.ID != pid || got.Product.Description != "new" || got.Product.Tags["a"] != "b" || got.Product.Revision != 2 || got.Product.ProviderName != "anonymous" {
		t.Errorf("updated %+v", got.Product)
	}
	h.must("PATCH", "/api/products/"+pid, `{"product_name": "web2"}`, &got)
	if got.Product.Name != "web2" || got.Product.Description != "new" {
		t.Errorf("renamed %+v", got.Product)
	}

	res := h.do("PATCH", "/api/products/web2", `{"description": "x", "revision": 1}`)
	e := wantError(t, res, 409, api.MsgConflict)
	if e.Details[0].Field != "revision" || e.Details[0].Type != "Conflict" {
		t.Errorf("stale: %+v", e.Details)
	}
	res = h.do("PATCH", "/api/products/web2", `{"product_name": "other"}`)
	e = wantError(t, res, 409, api.MsgConflict)
	if e.Details[0] != (api.Detail{Field: "product_name", Type: "Duplicate", Detail: `a product named "other" already exists`}) {
		t.Errorf("name taken: %+v", e.Details)
	}
	res = h.do("PATCH", "/api/products/web2", `{"visibility": "secret", "product_name": ""}`)
	e = wantError(t, res, 400, api.MsgInvalidRequest)
	if len(e.Details) != 2 || e.Details[0].Field != "product_name" || e.Details[1].Field != "visibility" {
		t.Errorf("invalid: %+v", e.Details)
	}
	res = h.do("PATCH", "/api/products/web2", `{"descripton": "x"}`)
	e = wantError(t, res, 400, api.MsgInvalidBody)
	if len(e.Details) != 1 || e.Details[0].Field != "descripton" || !strings.Contains(e.Details[0].Detail, "unknown field") {
		t.Errorf("unknown field: %+v", e.Details)
	}
	res = h.do("PATCH", "/api/products/nope", `{}`)
	wantError(t, res, 404, api.MsgNotFound)
}

func TestDeleteProduct(t *testing.T) {
	h := newHarness(t, nil)
	pid, vid := h.create(smallDoc("web"))
	var sub api.Submitted
	h.must("POST", "/api/deployments", `{"name": "web-1", "product_version_id": "`+vid+`"}`, &sub)
	h.waitOp("web-1", sub.OperationID)

	res := h.do("DELETE", "/api/products/web", "")
	want := `{"message":"Delete Product Error","code":"624","details":[{"field":"product_id","type":"InUse","detail":"the product is deployed as web-1 (Available): terminate these deployments and delete their records first"}],"request_id":"req-3"}` + "\n"
	if res.status != 624 || string(res.body) != want {
		t.Errorf("got  %s\nwant %s", res, want)
	}

	h.must("POST", "/api/deployments/web-1/terminate", `{"delete_data": true}`, &sub)
	h.waitOp("web-1", sub.OperationID)
	res = h.do("DELETE", "/api/products/web", "")
	e := wantError(t, res, 624, api.MsgDeleteProductError)
	if !strings.Contains(e.Details[0].Detail, "web-1 (Terminated)") {
		t.Errorf("details %+v", e.Details)
	}
	h.must("DELETE", "/api/deployments/web-1", "", nil)

	var del api.DeleteProductResponse
	h.must("DELETE", "/api/products/web", "", &del)
	if del.ProductID != pid {
		t.Errorf("deleted %+v", del)
	}
	wantError(t, h.do("DELETE", "/api/products/web", ""), 404, api.MsgNotFound)
	wantError(t, h.do("GET", "/api/versions/"+vid, ""), 404, api.MsgNotFound)
}

func TestDeleteProductStoreError(t *testing.T) {
	fs, _ := newFailing()
	h := newHarness(t, &harnessOptions{store: fs.st})
	h.create(smallDoc("web"))
	fs.deleteProduct = errors.New("connection reset by 10.0.0.7")
	res := h.do("DELETE", "/api/products/web", "")
	want := `{"message":"Delete Product Error","code":"624","details":[{"field":"product_id","type":"Internal","detail":"the store failed; the server log has the cause under request ID req-2"}],"request_id":"req-2"}` + "\n"
	if res.status != 624 || string(res.body) != want {
		t.Errorf("got  %s\nwant %s", res, want)
	}
	if !strings.Contains(h.log.String(), "10.0.0.7") {
		t.Errorf("log:\n%s", h.log)
	}
}

func TestPanicIsAnInternalError(t *testing.T) {
	fs, _ := newFailing()
	fs.panicOnGet = true
	h := newHarness(t, &harnessOptions{store: fs.st})
	res := h.do("GET", "/api/products/x", "")
	want := `{"message":"Internal error","code":"500","request_id":"req-1"}` + "\n"
	if res.status != 500 || string(res.body) != want {
		t.Errorf("got  %s\nwant %s", res, want)
	}
	if !strings.Contains(h.log.String(), "store exploded") || !strings.Contains(h.log.String(), "goroutine") {
		t.Errorf("the log lacks the panic and its stack:\n%s", h.log)
	}
}

func TestVersions(t *testing.T) {
	h := newHarness(t, nil)
	pid, v1 := h.create(smallDoc("web"))
	spec := `"stack_deps": [[{"stack_name": "web", "services": [{"service_name": "nginx", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.28"}}]}]]`

	var v api.VersionResponse
	h.must("POST", "/api/products/web/versions", `{"version_name": "v2", "guidance": "Latest", `+spec+`}`, &v)
	if v.VersionID == "" || v.Version.ProductID != pid || v.Version.Name != "v2" || !v.Version.Active || v.Version.Guidance != product.GuidanceLatest {
		t.Errorf("created %+v", v.Version)
	}
	v2 := v.VersionID

	res := h.do("POST", "/api/products/web/versions", `{"version_name": "v2", `+spec+`}`)
	e := wantError(t, res, 409, api.MsgConflict)
	if e.Details[0].Field != "version_name" || e.Details[0].Type != "Duplicate" {
		t.Errorf("duplicate: %+v", e.Details)
	}
	res = h.do("POST", "/api/products/web/versions", `{"version_name": "", "guidance": "Best", "stack_deps": [[]]}`)
	e = wantError(t, res, 400, api.MsgInvalidRequest)
	var fields []string
	for _, d := range e.Details {
		fields = append(fields, d.Field)
	}
	if strings.Join(fields, " ") != "version_name guidance stack_deps[0]" {
		t.Errorf("invalid: %+v", e.Details)
	}
	res = h.do("POST", "/api/products/web/versions", `{"version_name": "v3", "template_url": "stackwave://templates/tpl-0000000000000000"}`)
	e = wantError(t, res, 400, api.MsgInvalidRequest)
	if e.Details[0].Field != "template_url" || e.Details[0].Type != "NotFound" {
		t.Errorf("missing template: %+v", e.Details)
	}
	wantError(t, h.do("POST", "/api/products/nope/versions", `{}`), 404, api.MsgNotFound)

	var list api.VersionList
	h.must("GET", "/api/products/"+pid+"/versions", "", &list)
	if len(list.Versions) != 2 || list.Versions[0].ID != v1 || list.Versions[1].ID != v2 {
		t.Errorf("list %+v", list.Versions)
	}
	h.must("GET", "/api/products/web/versions?content_hash="+list.Versions[1].ContentHash, "", &list)
	if len(list.Versions) != 1 || list.Versions[0].ID != v2 {
		t.Errorf("by hash %+v", list.Versions)
	}

	h.must("PATCH", "/api/versions/"+v2, `{"guidance": "Deprecated", "active": false, "revision": 1}`, &v)
	if v.Version.Guidance != product.GuidanceDeprecated || v.Version.Active || v.Version.Revision != 2 || v.Version.Name != "v2" {
		t.Errorf("updated %+v", v.Version)
	}
	wantError(t, h.do("PATCH", "/api/versions/"+v2, `{"active": true, "revision": 1}`), 409, api.MsgConflict)
	wantError(t, h.do("PATCH", "/api/versions/"+v2, `{"version_name": "v9"}`), 400, api.MsgInvalidBody)
	wantError(t, h.do("PATCH", "/api/versions/"+v2, `{"guidance": "Best"}`), 400, api.MsgInvalidRequest)

	var sub api.Submitted
	h.must("POST", "/api/deployments", `{"name": "web-1", "product_version_id": "`+v1+`"}`, &sub)
	h.waitOp("web-1", sub.OperationID)
	e = wantError(t, h.do("DELETE", "/api/versions/"+v1, ""), 409, api.MsgConflict)
	if e.Details[0].Type != "InUse" {
		t.Errorf("in use: %+v", e.Details)
	}
	h.must("DELETE", "/api/versions/"+v2, "", nil)
	wantError(t, h.do("GET", "/api/versions/"+v2, ""), 404, api.MsgNotFound)
}

func TestTemplates(t *testing.T) {
	h := newHarness(t, nil)
	var tpl api.TemplateResponse
	h.must("POST", "/api/templates", `{"stack_deps": [[{"stack_name": "db", "services": [
	  {"service_name": "mysql", "unit_type": "1U1G", "image": {"name": "mysql", "tag": "8.4"}, "envs": {"MYSQL_ROOT_PASSWORD": "hunter22"}}]}]]}`, &tpl)
	if tpl.Template.StackDeps[0][0].Services[0].Envs[0] != "MYSQL_ROOT_PASSWORD=<redacted>" {
		t.Errorf("envs %q", tpl.Template.StackDeps[0][0].Services[0].Envs)
	}
	var got api.TemplateResponse
	h.must("GET", "/api/templates/"+tpl.TemplateID, "", &got)
	if got.TemplateURL != tpl.TemplateURL {
		t.Errorf("by ID %+v", got)
	}
	h.must("GET", "/api/templates/"+strings.ReplaceAll(tpl.TemplateURL, "/", "%2F"), "", &got)
	if got.TemplateID != tpl.TemplateID {
		t.Errorf("by URL %+v", got)
	}
	wantError(t, h.do("GET", "/api/templates/tpl-0000000000000000", ""), 404, api.MsgNotFound)
	e := wantError(t, h.do("POST", "/api/templates", `{"stack_deps": []}`), 400, api.MsgInvalidRequest)
	if e.Details[0].Field != "stack_deps" || e.Details[0].Type != "Required" {
		t.Errorf("empty: %+v", e.Details)
	}
	if strings.Contains(h.log.String(), "hunter22") {
		t.Errorf("the log shows an env value")
	}
}

func TestRouting(t *testing.T) {
	h := newHarness(t, nil)
	res := h.do("GET", "/api/nothing", "")
	want := `{"message":"Not found","code":"404","details":[{"type":"NoRoute","detail":"no route GET /api/nothing"}],"request_id":"req-1"}` + "\n"
	if res.status != 404 || string(res.body) != want {
		t.Errorf("got  %s\nwant %s", res, want)
	}
	res = h.do("PUT", "/api/products", "{}")
	e := wantError(t, res, 405, api.MsgMethodNotAllowed)
	if allow := res.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow %q", allow)
	}
	if len(e.Details) != 1 || e.Details[0].Type != "NotSupported" {
		t.Errorf("details %+v", e.Details)
	}
	// Every route refuses query parameters it does not read.
	h.create(smallDoc("web"))
	e = wantError(t, h.do("GET", "/api/products/web?verbose=1", ""), 400, api.MsgInvalidRequest)
	if e.Details[0] != (api.Detail{Field: "verbose", Type: "NotSupported", Detail: "unknown query parameter; supported: "}) {
		t.Errorf("details %+v", e.Details)
	}
	for _, r := range []*response{res, h.do("GET", "/api/products", "")} {
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("headers %v", r.header)
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	h := newHarness(t, &harnessOptions{api: api.Options{MaxBodyBytes: 1024}})
	big := `{"product_name": "big", "description": "` + strings.Repeat("x", 2000) + `"}`
	want := `{"message":"Request body too large","code":"413","details":[{"type":"TooLong","detail":"the body must be at most 1024 bytes"}],"request_id":"req-1"}` + "\n"
	res := h.do("POST", "/api/products", big)
	if res.status != http.StatusRequestEntityTooLarge || string(res.body) != want {
		t.Errorf("got  %s\nwant %s", res, want)
	}
	// Without a Content-Length, the limit applies while reading.
	req := httptest.NewRequest("POST", "/api/templates", strings.NewReader(big))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Errorf("chunked: %d %s", rec.Code, rec.Body)
	}
}

func TestNoExecutor(t *testing.T) {
	h := newHarness(t, &harnessOptions{noExe: true})
	h.create(smallDoc("web"))
	e := wantError(t, h.do("GET", "/api/deployments", ""), 501, api.MsgNotImplemented)
	if e.Details[0].Detail != "this server runs no deployments" {
		t.Errorf("details %+v", e.Details)
	}
}
