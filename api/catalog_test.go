package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// Access keys of the tests: ci may create products and templates, reader
// may not.
const (
	ciKey      = "LTAI5tStackwaveCI01"
	ciSecret   = "3q9zPp0cXv1T8mWb5yKd7LrA2sHn"
	readerKey  = "LTAI5tStackwaveRD01"
	readerKeyS = "Vb6Nk2Qw8Zt4Yc1Rm7Xp5Ls3Jd9Ge"
	catalogPol = `{"Statement": [{"Effect": "Allow", "Principal": "group:deployers", "Action": ["stackwave:Create*"], "Resource": "*"},
  {"Effect": "Deny", "Principal": "*", "Action": ["stackwave:CreateTemplate", "stackwave:GetTemplate"], "Resource": "swn:template/tpl-hidden"}]}`
	templateDoc = `[[{"stack_name": "web", "services": [{"service_name": "nginx", "unit_type": "1U1G",
  "image": {"name": "nginx", "tag": "1.27"}, "envs": {"API_KEY": "sup3r-s3cret"}}]}]]`
)

// catalogServer is the API with access keys and a policy, served on
// loopback, with every request it got kept for replays.
type catalogServer struct {
	*harness
	url string

	mu   sync.Mutex
	last *http.Request
	body []byte
}

func newCatalogServer(t *testing.T, o *harnessOptions, keyOpts *auth.AccessKeyOptions) *catalogServer {
	t.Helper()
	keys, err := auth.ParseAccessKeys(strings.NewReader(ciKey+" "+ciSecret+" ci deployers\n"+readerKey+" "+readerKeyS+" reader\n"), keyOpts)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := auth.ParsePolicy([]byte(catalogPol))
	if err != nil {
		t.Fatal(err)
	}
	if o == nil {
		o = &harnessOptions{}
	}
	o.api.AccessKeys, o.api.Authorizer = keys, pol
	cs := &catalogServer{harness: newHarness(t, o)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		cs.mu.Lock()
		cs.last, cs.body = r.Clone(context.Background()), b
		cs.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		cs.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cs.url = srv.URL
	return cs
}

// client returns the Alibaba Cloud SDK's generic client pointed at the
// server: ACS3-HMAC-SHA256 signatures, or the RPC style's HMAC-SHA1 when
// rpc is set.
func (cs *catalogServer) client(t *testing.T, keyID, secret string, rpc bool) *openapi.Client {
	t.Helper()
	cfg := &openapi.Config{
		AccessKeyId: dara.String(keyID), AccessKeySecret: dara.String(secret),
		Endpoint: dara.String(strings.TrimPrefix(cs.url, "http://")), Protocol: dara.String("http"),
	}
	if rpc {
		cfg.SignatureAlgorithm = dara.String("v2")
	}
	c, err := openapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// call sends an action as the generated Service Catalog SDK does: the
// parameters in the query (or, for body, a form), POST / unless method
// says otherwise.
func call(c *openapi.Client, action, method string, query, body map[string]any) (map[string]any, error) {
	params := &openapi.Params{
		Action: dara.String(action), Version: dara.String("2021-09-01"), Protocol: dara.String("HTTP"),
		Pathname: dara.String("/"), Method: dara.String(method), AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
	req := &openapi.OpenApiRequest{Query: openapiutil.Query(query)}
	if body != nil {
		req.Body = body
	}
	res, err := c.CallApi(params, req, &dara.RuntimeOptions{})
	if err != nil {
		return nil, err
	}
	out, _ := res["body"].(map[string]any)
	return out, nil
}

// versionParameters is the generated SDK's
// CreateProductRequestProductVersionParameters.
type versionParameters struct {
	Active             *bool   `json:"Active,omitempty"`
	Description        *string `json:"Description,omitempty"`
	Guidance           *string `json:"Guidance,omitempty"`
	ProductVersionName *string `json:"ProductVersionName,omitempty"`
	TemplateType       *string `json:"TemplateType,omitempty"`
	TemplateUrl        *string `json:"TemplateUrl,omitempty"`
}

// shrink writes ProductVersionParameters as the generated SDK does: one
// JSON string.
func shrink(p *versionParameters) string {
	return *openapiutil.ArrayToStringWithSpecifiedStyle(p, dara.String("ProductVersionParameters"), dara.String("json"))
}

// sdkError checks that err is the SDK's own error with the code and HTTP
// status, its message naming want.
func sdkError(t *testing.T, err error, status int, code, want string) {
	t.Helper()
	var se *tea.SDKError
	if !errors.As(err, &se) {
		t.Fatalf("got %v (%T), want a *tea.SDKError", err, err)
	}
	if dara.StringValue(se.Code) != code || dara.IntValue(se.StatusCode) != status || !strings.Contains(dara.StringValue(se.Message), want) {
		t.Errorf("got %d %s: %s\nwant %d %s: ...%s...", dara.IntValue(se.StatusCode), dara.StringValue(se.Code), dara.StringValue(se.Message), status, code, want)
	}
	if !strings.Contains(dara.StringValue(se.Message), "request id: req-") {
		t.Errorf("the message carries no request ID: %s", dara.StringValue(se.Message))
	}
}

func (cs *catalogServer) createTemplate(t *testing.T, c *openapi.Client) string {
	t.Helper()
	out, err := call(c, "CreateTemplate", "POST", map[string]any{"TemplateBody": templateDoc, "TemplateType": api.TemplateTypeROS}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := out["TemplateUrl"].(string)
	if !strings.HasPrefix(u, store.TemplateURLPrefix+"tpl-") || len(out) != 2 || !strings.HasPrefix(out["RequestId"].(string), "req-") {
		t.Fatalf("CreateTemplate answered %v", out)
	}
	return u
}

// An unmodified SDK client calls CreateTemplate and then CreateProduct
// with the URL it got, in both signature styles, as it would call the
// cloud.
func TestCatalogCreateProduct(t *testing.T) {
	for _, style := range []struct {
		name   string
		rpc    bool
		method string
		send   func(c *openapi.Client, q map[string]any, vp *versionParameters) (map[string]any, error)
	}{
		{"ACS3, parameters as one JSON string", false, "POST", func(c *openapi.Client, q map[string]any, vp *versionParameters) (map[string]any, error) {
			q["ProductVersionParameters"] = shrink(vp)
			return call(c, "CreateProduct", "POST", q, nil)
		}},
		{"RPC, flattened in the query", true, "POST", func(c *openapi.Client, q map[string]any, vp *versionParameters) (map[string]any, error) {
			q["ProductVersionParameters"] = vp
			return call(c, "CreateProduct", "POST", q, nil)
		}},
		{"RPC, flattened in a form", true, "POST", func(c *openapi.Client, q map[string]any, vp *versionParameters) (map[string]any, error) {
			q["ProductVersionParameters"] = vp
			return call(c, "CreateProduct", "POST", map[string]any{}, q)
		}},
		{"RPC with GET, one JSON string", true, "GET", func(c *openapi.Client, q map[string]any, vp *versionParameters) (map[string]any, error) {
			q["ProductVersionParameters"] = shrink(vp)
			return call(c, "CreateProduct", "GET", q, nil)
		}},
	} {
		t.Run(style.name, func(t *testing.T) {
			cs := newCatalogServer(t, nil, nil)
			c := cs.client(t, ciKey, ciSecret, style.rpc)
			tpl := cs.createTemplate(t, c)
			out, err := style.send(c, map[string]any{
				"ProductName": "DEMO-Create an ECS instance", "ProductType": "Ros", "ProviderName": "IT team",
				"Description": "The description of the product.", "TemplateType": api.TemplateTypeROS,
			}, &versionParameters{
				ProductVersionName: dara.String("1.0"), TemplateType: dara.String(api.TemplateTypeROS), TemplateUrl: dara.String(tpl),
				Description: dara.String("The description of the product version."), Guidance: dara.String("Recommended"), Active: dara.Bool(false),
			})
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := out["ProductId"].(string)
			vid, _ := out["ProductVersionId"].(string)
			rid, _ := out["RequestId"].(string)
			if len(out) != 3 || !strings.HasPrefix(pid, "prod-") || !strings.HasPrefix(vid, "pv-") || !strings.HasPrefix(rid, "req-") {
				t.Fatalf("answer %v", out)
			}
			ctx := context.Background()
			p, err := cs.st.GetProduct(ctx, pid)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != "DEMO-Create an ECS instance" || p.ProviderName != "IT team" || p.ProductType != "Ros" || p.Description != "The description of the product." {
				t.Errorf("product %+v", p)
			}
			v, err := cs.st.GetVersion(ctx, vid)
			if err != nil {
				t.Fatal(err)
			}
			if v.ProductID != pid || v.Name != "1.0" || v.Guidance != product.GuidanceRecommended || v.Active ||
				v.Description != "The description of the product version." || v.TemplateURL != tpl || v.StackDeps[0][0].Services[0].Envs[0] != "API_KEY=sup3r-s3cret" {
				t.Errorf("version %+v", v)
			}
			cs.mu.Lock()
			last := cs.last
			cs.mu.Unlock()
			if style.rpc != (last.URL.Query().Get("Signature") != "") || style.rpc == strings.HasPrefix(last.Header.Get("Authorization"), "ACS3-HMAC-SHA256 ") {
				t.Errorf("the SDK did not sign in the style wanted: %s %v", last.URL, last.Header)
			}
		})
	}
}

// The native API takes the URL CreateTemplate answers, and the cloud's
// oss:// form of it names the template by its ID.
func TestCatalogTemplateURLs(t *testing.T) {
	cs := newCatalogServer(t, nil, nil)
	c := cs.client(t, ciKey, ciSecret, false)
	tpl := cs.createTemplate(t, c)
	id := strings.TrimPrefix(tpl, store.TemplateURLPrefix)
	for i, u := range []string{tpl, "oss://servicecatalog-cn-hangzhou/146611588617****/terraform/template/" + id + "/template.json"} {
		out, err := call(c, "CreateProduct", "POST", map[string]any{"ProductName": "p" + string(rune('a'+i)), "ProductType": "Ros", "ProviderName": "IT",
			"ProductVersionParameters": shrink(&versionParameters{TemplateUrl: dara.String(u), TemplateType: dara.String(api.TemplateTypeStackwave)})}, nil)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		v, _ := cs.st.GetVersion(context.Background(), out["ProductVersionId"].(string))
		if v.TemplateURL != tpl || v.Name != api.DefaultVersionName || !v.Active || v.Guidance != product.GuidanceDefault {
			t.Errorf("%s: version %+v", u, v)
		}
	}
	// POST /api/templates answers the same form, which POST
	// /api/products takes.
	var native api.TemplateResponse
	newHarness(t, nil).must("POST", "/api/templates", `{"stack_deps": `+templateDoc+`}`, &native)
	if got, ok := api.CatalogTemplateURL(native.TemplateURL); !ok || got != native.TemplateURL {
		t.Errorf("CatalogTemplateURL(%q) = %q, %v", native.TemplateURL, got, ok)
	}
	for _, bad := range []string{"", "https://example.com/t.json", "stackwave://templates/x", "oss://b/a/terraform/template/tpl-1/other.json", store.TemplateURLPrefix + "tpl-1/x"} {
		if _, ok := api.CatalogTemplateURL(bad); ok {
			t.Errorf("CatalogTemplateURL(%q) takes it", bad)
		}
	}
}

// A template the caller may neither read nor create answers as a
// missing one.
func TestCatalogHiddenTemplateIsMissing(t *testing.T) {
	cs := newCatalogServer(t, nil, nil)
	c := cs.client(t, ciKey, ciSecret, false)
	if _, err := cs.st.CreateTemplate(context.Background(), &store.Template{ID: "tpl-hidden", StackDeps: mustDeps(t, templateDoc)}); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, id := range []string{"tpl-hidden", "tpl-absent"} {
		_, err := call(c, "CreateProduct", "POST", map[string]any{"ProductName": "p-" + id, "ProductType": "Ros", "ProviderName": "IT",
			"ProductVersionParameters": shrink(&versionParameters{TemplateUrl: dara.String(store.TemplateURLPrefix + id)})}, nil)
		if err == nil {
			t.Fatalf("%s: a product was created", id)
		}
		msgs = append(msgs, strings.ReplaceAll(regexp.MustCompile(`req-\d+`).ReplaceAllString(err.Error(), "req"), id, "ID"))
	}
	if msgs[0] != msgs[1] {
		t.Errorf("hidden and missing templates answer differently:\n%s\n%s", msgs[0], msgs[1])
	}
	if !strings.Contains(msgs[0], "no template") {
		t.Errorf("answer: %s", msgs[0])
	}
	if !strings.Contains(cs.log.String(), "outcome=denied") {
		t.Errorf("no audit of the denial:\n%s", cs.log)
	}
}

func mustDeps(t *testing.T, doc string) stack.Deps {
	t.Helper()
	var deps stack.Deps
	if err := product.DecodeJSON([]byte(doc), &deps); err != nil {
		t.Fatal(err)
	}
	return deps
}

// Every refusal is an error of the SDK's own type with the cloud API's
// code, naming the parameter; nothing is stored.
func TestCatalogRefusals(t *testing.T) {
	cs := newCatalogServer(t, nil, nil)
	c := cs.client(t, ciKey, ciSecret, false)
	tpl := cs.createTemplate(t, c)
	good := func() map[string]any {
		return map[string]any{"ProductName": "shop", "ProductType": "Ros", "ProviderName": "IT team",
			"ProductVersionParameters": shrink(&versionParameters{TemplateUrl: dara.String(tpl)})}
	}
	with := func(k string, v any) map[string]any {
		q := good()
		if v == nil {
			delete(q, k)
		} else {
			q[k] = v
		}
		return q
	}
	vp := func(p *versionParameters) map[string]any {
		if p.TemplateUrl == nil {
			p.TemplateUrl = dara.String(tpl)
		}
		return with("ProductVersionParameters", shrink(p))
	}
	for _, tc := range []struct {
		name       string
		query      map[string]any
		status     int
		code, want string
	}{
		{"no ProductName", with("ProductName", nil), 400, "MissingParameter", `"ProductName"`},
		{"no ProviderName", with("ProviderName", nil), 400, "MissingParameter", `"ProviderName"`},
		{"no ProductType", with("ProductType", nil), 400, "MissingParameter", `"ProductType"`},
		{"no TemplateUrl", with("ProductVersionParameters", nil), 400, "MissingParameter", `"ProductVersionParameters.TemplateUrl"`},
		{"ProductType not Ros", with("ProductType", "Terraform"), 400, "InvalidParameter", `"ProductType" is invalid: must be "Ros"`},
		{"empty ProductName", with("ProductName", ""), 400, "InvalidParameter", `"ProductName" is invalid: must be 1 to 128 characters`},
		{"ProductName of 129", with("ProductName", strings.Repeat("a", 129)), 400, "InvalidParameter", `"ProductName" is invalid: must be at most 128 characters`},
		{"ProductName with a zero-width space", with("ProductName", "sh\u200bop"), 400, "InvalidParameter", `"ProductName" is invalid: must not contain invisible characters`},
		{"ProductName an ID", with("ProductName", "prod-0123456789abcdef"), 400, "InvalidParameter", `"ProductName" is invalid: must not have the shape of an ID`},
		{"Description of 129", with("Description", strings.Repeat("d", 129)), 400, "InvalidParameter", `"Description" is invalid`},
		{"ProviderName with a trailing space", with("ProviderName", "IT "), 400, "InvalidParameter", `"ProviderName" is invalid: must not end with a space`},
		{"Guidance", vp(&versionParameters{Guidance: dara.String("Best")}), 400, "InvalidParameter", `"ProductVersionParameters.Guidance" is invalid`},
		{"version name of 129", vp(&versionParameters{ProductVersionName: dara.String(strings.Repeat("v", 129))}), 400, "InvalidParameter", `"ProductVersionParameters.ProductVersionName" is invalid`},
		{"TemplateType", vp(&versionParameters{TemplateType: dara.String("RosStandardTemplate")}), 400, "InvalidParameter", `"ProductVersionParameters.TemplateType" is invalid`},
		{"TemplateUrl elsewhere", vp(&versionParameters{TemplateUrl: dara.String("https://example.com/t.json")}), 400, "InvalidParameter", `"ProductVersionParameters.TemplateUrl" is invalid`},
		{"TemplateUrl of no template", vp(&versionParameters{TemplateUrl: dara.String(store.TemplateURLPrefix + "tpl-0000000000000000")}), 400, "InvalidParameter", "no template"},
		{"unknown member", with("ProductVersionParameters", `{"TemplateUrl": "`+tpl+`", "Versoin": "1"}`), 400, "InvalidParameter", `"ProductVersionParameters.Versoin" is invalid: unknown field`},
		{"member twice", with("ProductVersionParameters", `{"TemplateUrl": "`+tpl+`", "TemplateUrl": "x"}`), 400, "InvalidParameter", `"ProductVersionParameters.TemplateUrl" is invalid: duplicate field`},
		{"member in another case", with("ProductVersionParameters", `{"templateUrl": "`+tpl+`"}`), 400, "InvalidParameter", `did you mean "TemplateUrl"?`},
		{"Active a string", with("ProductVersionParameters", `{"TemplateUrl": "`+tpl+`", "Active": "yes"}`), 400, "InvalidParameter", `"ProductVersionParameters.Active" is invalid: expected boolean`},
		{"unknown parameter", with("ProductNmae", "x"), 400, "InvalidParameter", `"ProductNmae" is invalid: unknown parameter`},
		{"two TemplateTypes", func() map[string]any {
			q := vp(&versionParameters{TemplateType: dara.String(api.TemplateTypeROS)})
			q["TemplateType"] = api.TemplateTypeStackwave
			return q
		}(), 400, "InvalidParameter", `"TemplateType" is invalid`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(c, "CreateProduct", "POST", tc.query, nil)
			sdkError(t, err, tc.status, tc.code, tc.want)
		})
	}
	page, _ := cs.st.ListProducts(context.Background(), store.ProductQuery{})
	if page.Total != 0 {
		t.Errorf("%d products stored", page.Total)
	}

	// A name taken, by a product ci may not see (the policy grants it no
	// Get): answered as a refusal of the name, not as a duplicate
	// (TestCreateOverHiddenName has the duplicate a caller may see).
	if _, err := call(c, "CreateProduct", "POST", good(), nil); err != nil {
		t.Fatal(err)
	}
	_, err := call(c, "CreateProduct", "POST", good(), nil)
	sdkError(t, err, 403, "Forbidden.RAM", `ci may not perform stackwave:CreateProduct on swn:product/shop: no statement allows it`)

	// CreateTemplate.
	for _, tc := range []struct {
		name       string
		query      map[string]any
		code, want string
	}{
		{"no body", map[string]any{"TemplateType": api.TemplateTypeROS}, "MissingParameter", `"TemplateBody"`},
		{"no type", map[string]any{"TemplateBody": templateDoc}, "MissingParameter", `"TemplateType"`},
		{"Terraform variables", map[string]any{"TemplateBody": templateDoc, "TemplateType": api.TemplateTypeROS,
			"TerraformVariables": []map[string]any{{"VariableName": "x"}}}, "InvalidParameter", `"TerraformVariables.1.VariableName"`},
		{"a body that does not decode", map[string]any{"TemplateBody": `[[{"stack_name": "web", "servics": []}]]`, "TemplateType": api.TemplateTypeROS},
			"InvalidParameter", `"TemplateBody" is invalid: line 1, column 25: [0][0].servics: unknown field`},
		{"a YAML body whose aliases expand beyond the limit", map[string]any{"TemplateType": api.TemplateTypeROS, "TemplateBody": "- - stack_name: web\n    services:\n" +
			"    - {service_name: a, unit_type: 1U1G, image: {name: a, tag: '1'}, command: &big [" + strings.Repeat("'"+strings.Repeat("x", 1000)+"', ", 999) + "x]}\n" +
			"    - {service_name: b, unit_type: 1U1G, image: {name: a, tag: '1'}, command: *big}\n" +
			"    - {service_name: c, unit_type: 1U1G, image: {name: a, tag: '1'}, command: *big}\n" +
			"    - {service_name: d, unit_type: 1U1G, image: {name: a, tag: '1'}, command: *big}\n" +
			"    - {service_name: e, unit_type: 1U1G, image: {name: a, tag: '1'}, command: *big}\n"},
			"InvalidParameter", `"TemplateBody" is invalid: expanded: the document must be at most 4194304 bytes (limit max-document-bytes)`},
		{"a body breaking the rules", map[string]any{"TemplateBody": strings.Replace(templateDoc, `"API_KEY"`, `"1BAD"`, 1), "TemplateType": api.TemplateTypeROS},
			"InvalidParameter", `"TemplateBody" is invalid: stack_deps[0][0].services[0].envs.1BAD: Invalid value: "1BAD=<redacted>"`},
	} {
		t.Run("template "+tc.name, func(t *testing.T) {
			_, err := call(c, "CreateTemplate", "POST", tc.query, nil)
			sdkError(t, err, 400, tc.code, tc.want)
			if err != nil && strings.Contains(err.Error(), "sup3r-s3cret") {
				t.Errorf("an env value is shown: %v", err)
			}
		})
	}

	// The action and version.
	_, err = call(c, "DeleteProduct", "POST", map[string]any{"ProductId": "prod-x"}, nil)
	sdkError(t, err, 404, "InvalidAction.NotFound", "DeleteProduct")
	params := &openapi.Params{Action: dara.String("CreateProduct"), Version: dara.String("2020-01-01"), Protocol: dara.String("HTTP"),
		Pathname: dara.String("/"), Method: dara.String("POST"), AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json")}
	_, err = c.CallApi(params, &openapi.OpenApiRequest{Query: openapiutil.Query(good())}, &dara.RuntimeOptions{})
	sdkError(t, err, 400, "InvalidVersion", "2020-01-01")

	// The same authorization as the native create.
	_, err = call(cs.client(t, readerKey, readerKeyS, false), "CreateProduct", "POST", with("ProductName", "other"), nil)
	sdkError(t, err, 403, "Forbidden.RAM", "reader may not perform stackwave:CreateProduct")
}

// A store failure is the cloud API's InternalError, its cause logged and
// not sent.
func TestCatalogInternalError(t *testing.T) {
	fs, _ := newFailing()
	cs := newCatalogServer(t, &harnessOptions{store: fs.st}, nil)
	c := cs.client(t, ciKey, ciSecret, false)
	tpl := cs.createTemplate(t, c)
	fs.createProduct = errors.New("disk on fire at /var/lib/stackwave")
	_, err := call(c, "CreateProduct", "POST", map[string]any{"ProductName": "shop", "ProductType": "Ros", "ProviderName": "IT",
		"ProductVersionParameters": shrink(&versionParameters{TemplateUrl: dara.String(tpl)})}, nil)
	sdkError(t, err, 500, "InternalError", "A system error occurred.")
	if strings.Contains(err.Error(), "disk on fire") || !strings.Contains(cs.log.String(), "disk on fire") {
		t.Errorf("the cause is sent or not logged: %v\n%s", err, cs.log)
	}
}

// Signatures are verified: a wrong secret, an unknown key, a stale date, a
// replayed nonce and a changed parameter are refused, in both styles.
func TestCatalogSignatures(t *testing.T) {
	for _, rpc := range []bool{false, true} {
		name := map[bool]string{false: "ACS3", true: "RPC"}[rpc]
		t.Run(name, func(t *testing.T) {
			cs := newCatalogServer(t, nil, nil)
			q := map[string]any{"TemplateBody": templateDoc, "TemplateType": api.TemplateTypeROS}
			_, err := call(cs.client(t, ciKey, "wrong-secret-0123456789", rpc), "CreateTemplate", "POST", q, nil)
			sdkError(t, err, 400, "SignatureDoesNotMatch", "Specified signature is not matched")
			_, err = call(cs.client(t, "LTAI5tNobody", ciSecret, rpc), "CreateTemplate", "POST", q, nil)
			sdkError(t, err, 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found")

			// A request seen once is refused the second time, and
			// changed, it no longer matches its signature.
			if _, err := call(cs.client(t, ciKey, ciSecret, rpc), "CreateTemplate", "POST", q, nil); err != nil {
				t.Fatal(err)
			}
			cs.mu.Lock()
			last, body := cs.last, cs.body
			cs.mu.Unlock()
			replay := func(change func(u *url.URL)) *http.Response {
				t.Helper()
				u := *last.URL
				u.Scheme, u.Host = "http", strings.TrimPrefix(cs.url, "http://")
				if change != nil {
					change(&u)
				}
				req, _ := http.NewRequest(last.Method, u.String(), bytes.NewReader(body))
				req.Header = last.Header.Clone()
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { res.Body.Close() })
				return res
			}
			checkBody := func(res *http.Response, status int, code string) {
				t.Helper()
				var e api.CatalogError
				if err := json.NewDecoder(res.Body).Decode(&e); err != nil || res.StatusCode != status || e.Code != code || !strings.HasPrefix(e.RequestID, "req-") {
					t.Errorf("got %d %+v (%v), want %d %s", res.StatusCode, e, err, status, code)
				}
			}
			checkBody(replay(nil), 400, "SignatureNonceUsed")
			checkBody(replay(func(u *url.URL) {
				v := u.Query()
				v.Set("TemplateType", api.TemplateTypeStackwave)
				u.RawQuery = v.Encode()
			}), 400, "SignatureDoesNotMatch")

			// A server whose clock is an hour ahead finds the SDK's
			// date stale.
			skewed := newCatalogServer(t, nil, &auth.AccessKeyOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
			_, err = call(skewed.client(t, ciKey, ciSecret, rpc), "CreateTemplate", "POST", q, nil)
			sdkError(t, err, 400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired")
		})
	}
	// Unsigned, or signed by no key the server has.
	cs := newCatalogServer(t, nil, nil)
	res, err := http.Post(cs.url+"/?Action=CreateTemplate&Version=2021-09-01", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e api.CatalogError
	if json.NewDecoder(res.Body).Decode(&e); res.StatusCode != 400 || e.Code != "MissingSignature" {
		t.Errorf("unsigned: %d %+v", res.StatusCode, e)
	}
	h := newHarness(t, nil)
	srv := httptest.NewServer(h.srv)
	defer srv.Close()
	cs2 := &catalogServer{harness: h, url: srv.URL}
	_, err = call(cs2.client(t, ciKey, ciSecret, false), "CreateTemplate", "POST", map[string]any{"TemplateBody": templateDoc, "TemplateType": api.TemplateTypeROS}, nil)
	sdkError(t, err, 404, "InvalidAccessKeyId.NotFound", "serve --access-keys")
}

// Nonces are remembered for twice the allowed skew, within a bound.
func TestAccessKeyNonces(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	keys, err := auth.ParseAccessKeys(strings.NewReader(ciKey+" "+ciSecret+" ci\n"), &auth.AccessKeyOptions{
		Now: func() time.Time { return now }, MaxSkew: time.Minute, MaxNonces: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(nonce string) url.Values {
		v := url.Values{"Action": {"CreateTemplate"}, "AccessKeyId": {ciKey}, "SignatureMethod": {"HMAC-SHA1"}, "SignatureVersion": {"1.0"},
			"SignatureNonce": {nonce}, "Timestamp": {now.Format("2006-01-02T15:04:05Z")}}
		sig := openapiutil.GetRPCSignature(openapiutil.Query(flatten(v)), dara.String("POST"), dara.String(ciSecret))
		v.Set("Signature", *sig)
		return v
	}
	code := func(err error) string {
		var se *auth.SignatureError
		if errors.As(err, &se) {
			return se.Code
		}
		return ""
	}
	if _, err := keys.VerifyRPC("POST", sign("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.VerifyRPC("POST", sign("a")); code(err) != "SignatureNonceUsed" {
		t.Errorf("replay: %v", err)
	}
	if _, err := keys.VerifyRPC("POST", sign("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.VerifyRPC("POST", sign("c")); code(err) != "Throttling.User" || !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("beyond MaxNonces: %v", err)
	}
	now = now.Add(2*time.Minute + time.Second) // a and b expire
	if _, err := keys.VerifyRPC("POST", sign("c")); err != nil {
		t.Errorf("after expiry: %v", err)
	}
	if _, err := keys.VerifyRPC("POST", sign("a")); err != nil {
		t.Errorf("an expired nonce again: %v", err)
	}
	v := sign("d")
	v.Set("Timestamp", now.Add(-2*time.Minute).Format("2006-01-02T15:04:05Z"))
	if _, err := keys.VerifyRPC("POST", v); code(err) != "SignatureDoesNotMatch" {
		t.Errorf("a changed timestamp: %v", err)
	}
}

func flatten(v url.Values) map[string]any {
	m := map[string]any{}
	for k := range v {
		m[k] = v.Get(k)
	}
	return m
}

// The access key file holds secrets: it is refused when others may read
// it, and its lines are checked.
func TestLoadAccessKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	if err := os.WriteFile(path, []byte(ciKey+" "+ciSecret+" ci deployers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LoadAccessKeys(path, nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("mode 0644: %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := auth.LoadAccessKeys(path, nil)
	if err != nil || k.Len() != 1 {
		t.Errorf("mode 0600: %v", err)
	}
	if _, err := auth.LoadAccessKeys(dir, nil); err == nil {
		t.Error("a directory")
	}
	for _, tc := range []struct{ file, want string }{
		{"id short ci\n", "line 1: the secret of id is shorter than 16 characters"},
		{"# c\nid " + ciSecret + "\n", "line 2: want ACCESS_KEY_ID ACCESS_KEY_SECRET PRINCIPAL [GROUP...]"},
		{"id " + ciSecret + " a\nid " + ciSecret + " b\n", "line 2: access key id is given twice"},
	} {
		if _, err := auth.ParseAccessKeys(strings.NewReader(tc.file), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.file, err, tc.want)
		}
	}
}
