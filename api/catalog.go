package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

// The Service Catalog compatible API answers what clients of Alibaba
// Cloud's Service Catalog (API version 2021-09-01) send, unchanged: an
// SDK client pointed at the server calls CreateTemplate and
// CreateProduct as it would call the cloud. See the package
// documentation, "Service Catalog compatibility".

// CatalogVersion is the only API version the compatible API answers.
const CatalogVersion = "2021-09-01"

// Template types of the compatible API's TemplateType parameters. Both
// name a stack_deps template stored in the catalog: RosTerraformTemplate
// is accepted so that clients of the cloud API send what they always
// sent.
const (
	TemplateTypeROS       = "RosTerraformTemplate"
	TemplateTypeStackwave = "StackwaveTemplate"
)

// CatalogProductType is the ProductType the compatible API accepts, as
// the cloud API does.
const CatalogProductType = "Ros"

// CatalogError is the body of an error of the compatible API, in the
// shape of the cloud API's errors, which the SDKs raise as their own
// error type with the code and message.
type CatalogError struct {
	RequestID string `json:"RequestId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`

	status int
	cause  error
}

func (e *CatalogError) Error() string { return e.Code + ": " + e.Message }

func catalogError(status int, code, format string, args ...any) *CatalogError {
	return &CatalogError{status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func missingParameter(name string) *CatalogError {
	return catalogError(http.StatusBadRequest, "MissingParameter",
		"The input parameter %q that is mandatory for processing this request is not supplied.", name)
}

func invalidParameter(name, format string, args ...any) *CatalogError {
	return catalogError(http.StatusBadRequest, "InvalidParameter",
		"The parameter %q is invalid: %s", name, fmt.Sprintf(format, args...))
}

// CreateProductResult answers CreateProduct.
type CreateProductResult struct {
	RequestID        string `json:"RequestId"`
	ProductID        string `json:"ProductId"`
	ProductVersionID string `json:"ProductVersionId"`
}

// CreateTemplateResult answers CreateTemplate.
type CreateTemplateResult struct {
	RequestID   string `json:"RequestId"`
	TemplateURL string `json:"TemplateUrl"`
}

// catalogCall is one request to the compatible API.
type catalogCall struct {
	*call
	params url.Values // the action's parameters, signature parameters removed
}

// serveCatalog serves POST / and GET /, the compatible API.
func (s *Server) serveCatalog(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r.Context())
	c.r = r
	res, err := s.catalog(c)
	if err != nil {
		s.catalogFail(c, err)
		return
	}
	b, err := marshal(res)
	if err != nil {
		s.catalogFail(c, err)
		return
	}
	c.writeJSON(http.StatusOK, b)
}

// catalogFail answers an error in the cloud API's shape.
func (s *Server) catalogFail(c *call, err error) {
	var ce *CatalogError
	var se *auth.SignatureError
	switch {
	case errors.As(err, &ce):
	case errors.As(err, &se):
		ce = &CatalogError{status: se.Status, Code: se.Code, Message: se.Message}
	case errors.Is(err, auth.ErrDenied):
		ce = catalogError(http.StatusForbidden, "Forbidden.RAM", "%v", err)
	default:
		e := toError(err)
		switch {
		case e.Status == http.StatusRequestEntityTooLarge:
			ce = catalogError(e.Status, "RequestEntityTooLarge", "the request body must be at most %d bytes", s.opts.MaxBodyBytes)
		case e.Status < 500:
			msg := e.Message
			if len(e.Details) > 0 {
				msg = e.Details[0].Detail
			}
			ce = catalogError(e.Status, "InvalidParameter", "%s", msg)
		default:
			ce = catalogError(http.StatusInternalServerError, "InternalError", "A system error occurred.")
			ce.cause = err
		}
	}
	if ce.cause != nil {
		c.logError("request failed", "status", ce.status, "error", ce.cause)
	} else {
		c.info("request refused", "status", ce.status, "code", ce.Code, "error", ce.Message)
	}
	out := *ce
	out.RequestID = c.id
	b, merr := marshal(&out)
	if merr != nil {
		b = []byte(`{"Code":"InternalError","Message":"A system error occurred."}` + "\n")
	}
	c.writeJSON(ce.status, b)
}

// signatureParams are the parameters of the RPC style that sign a request
// rather than say what it does.
var signatureParams = []string{"AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"}

// commonParams may accompany any action and are not its parameters.
var commonParams = []string{"Action", "Version", "Format", "RegionId"}

func (s *Server) catalog(c *call) (any, error) {
	b, err := c.body()
	if err != nil {
		return nil, err
	}
	query, err := url.ParseQuery(c.r.URL.RawQuery)
	if err != nil {
		return nil, catalogError(http.StatusBadRequest, "InvalidParameter", "malformed query string")
	}
	// Parameters come in the query and, for a form, in the body.
	params := url.Values{}
	for k, v := range query {
		params[k] = v
	}
	if len(b) > 0 {
		ct, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
		if ct != "application/x-www-form-urlencoded" {
			return nil, catalogError(http.StatusBadRequest, "InvalidParameter", "a request body must be a form (application/x-www-form-urlencoded), not %q", ct)
		}
		form, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, catalogError(http.StatusBadRequest, "InvalidParameter", "malformed form body")
		}
		for k, v := range form {
			if _, dup := params[k]; dup {
				return nil, invalidParameter(k, "given both in the query and in the body")
			}
			params[k] = v
		}
	}
	for k, v := range params {
		if len(v) > 1 {
			return nil, invalidParameter(k, "given more than once")
		}
	}

	// Who signed it.
	if s.opts.AccessKeys == nil {
		return nil, catalogError(http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found: this server has no access keys (serve --access-keys FILE)")
	}
	var action, version string
	if strings.HasPrefix(c.r.Header.Get("Authorization"), auth.ACS3Algorithm+" ") {
		c.principal, err = s.opts.AccessKeys.VerifyACS3(c.r, b)
		action, version = c.r.Header.Get("x-acs-action"), c.r.Header.Get("x-acs-version")
		for _, p := range []struct{ name, header string }{{"Action", action}, {"Version", version}} {
			if v := params.Get(p.name); v != "" && v != p.header {
				return nil, invalidParameter(p.name, "%q differs from the signed header (%q)", v, p.header)
			}
		}
	} else {
		if params.Get("Signature") == "" {
			return nil, catalogError(http.StatusBadRequest, "MissingSignature",
				"the request is not signed: send an Authorization header (%s) or the Signature parameter", auth.ACS3Algorithm)
		}
		c.principal, err = s.opts.AccessKeys.VerifyRPC(c.r.Method, params)
		action, version = params.Get("Action"), params.Get("Version")
		for _, p := range signatureParams {
			delete(params, p)
		}
	}
	if err != nil {
		return nil, err
	}
	if version != CatalogVersion {
		return nil, catalogError(http.StatusBadRequest, "InvalidVersion", "Specified parameter Version %q is not valid: this server answers %s", version, CatalogVersion)
	}
	if f := params.Get("Format"); f != "" && !strings.EqualFold(f, "json") {
		return nil, invalidParameter("Format", "only JSON is answered")
	}
	for _, p := range commonParams {
		delete(params, p)
	}
	cc := &catalogCall{call: c, params: params}
	switch action {
	case "CreateProduct":
		c.action = ActionCreateProduct
		return s.catalogCreateProduct(cc)
	case "CreateTemplate":
		c.action = ActionCreateTemplate
		return s.catalogCreateTemplate(cc)
	}
	return nil, catalogError(http.StatusNotFound, "InvalidAction.NotFound", "Specified api %q is not found; this server answers CreateProduct and CreateTemplate", action)
}

// take returns a parameter and whether it was given, removing it.
func (c *catalogCall) take(name string) (string, bool) {
	v, ok := c.params[name]
	delete(c.params, name)
	if !ok {
		return "", false
	}
	return v[0], true
}

// unknown refuses the parameters no one took.
func (c *catalogCall) unknown() error {
	if len(c.params) == 0 {
		return nil
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range c.params {
			if !yield(n) {
				return
			}
		}
	})
	return invalidParameter(names[0], "unknown parameter")
}

// versionParams are the fields of ProductVersionParameters.
type versionParams struct {
	ProductVersionName *string `json:"ProductVersionName,omitempty"`
	TemplateType       *string `json:"TemplateType,omitempty"`
	TemplateURL        *string `json:"TemplateUrl,omitempty"`
	Description        *string `json:"Description,omitempty"`
	Guidance           *string `json:"Guidance,omitempty"`
	Active             *bool   `json:"Active,omitempty"`
}

const versionParamsName = "ProductVersionParameters"

// versionParameters reads ProductVersionParameters, given as one JSON
// string (current SDKs) or flattened as ProductVersionParameters.X (the
// RPC style of older ones), not both.
func (c *catalogCall) versionParameters() (*versionParams, error) {
	var vp versionParams
	js, asJSON := c.take(versionParamsName)
	flat := map[string]*string{
		"ProductVersionName": nil, "TemplateType": nil, "TemplateUrl": nil, "Description": nil, "Guidance": nil, "Active": nil,
	}
	anyFlat := false
	for k := range c.params {
		if field, ok := strings.CutPrefix(k, versionParamsName+"."); ok {
			if _, known := flat[field]; !known {
				return nil, invalidParameter(k, "unknown parameter")
			}
			v, _ := c.take(k)
			flat[field] = &v
			anyFlat = true
		}
	}
	switch {
	case asJSON && anyFlat:
		return nil, invalidParameter(versionParamsName, "give it as one JSON string or flattened as %s.X, not both", versionParamsName)
	case asJSON:
		if err := product.DecodeJSON([]byte(js), &vp); err != nil {
			var de *product.DecodeError
			if errors.As(err, &de) && de.Field != "" {
				return nil, invalidParameter(versionParamsName+"."+de.Field, "%s", de.Msg)
			}
			return nil, invalidParameter(versionParamsName, "must be a JSON object: %v", err)
		}
	default:
		vp.ProductVersionName, vp.TemplateType, vp.TemplateURL = flat["ProductVersionName"], flat["TemplateType"], flat["TemplateUrl"]
		vp.Description, vp.Guidance = flat["Description"], flat["Guidance"]
		if a := flat["Active"]; a != nil {
			b, err := strconv.ParseBool(*a)
			if err != nil || (*a != "true" && *a != "false") {
				return nil, invalidParameter(versionParamsName+".Active", "must be true or false, got %q", *a)
			}
			vp.Active = &b
		}
	}
	return &vp, nil
}

// catalogFields names the compatible API's parameters for the fields of
// a product document.
var catalogFields = map[string]string{
	"product_name":        "ProductName",
	"provider_name":       "ProviderName",
	"description":         "Description",
	"product_type":        "ProductType",
	"version_name":        versionParamsName + ".ProductVersionName",
	"version_description": versionParamsName + ".Description",
	"guidance":            versionParamsName + ".Guidance",
	"template_url":        versionParamsName + ".TemplateUrl",
}

// catalogCreateProduct registers a product and its first version from a
// stored template, the parameters checked against the cloud API's table:
// ProductName, ProductType (Ros) and ProviderName required, names and
// descriptions 1 to 128 characters, Guidance one of its four values, and
// ProductVersionParameters.TemplateUrl naming a template of this catalog.
func (s *Server) catalogCreateProduct(c *catalogCall) (any, error) {
	if err := c.authorize(AllProducts); err != nil {
		return nil, err
	}
	doc := &product.Document{}
	required := func(name string, dst *string) error {
		v, ok := c.take(name)
		if !ok {
			return missingParameter(name)
		}
		if v == "" {
			return invalidParameter(name, "must be 1 to 128 characters")
		}
		*dst = v
		return nil
	}
	if err := required("ProductName", &doc.Name); err != nil {
		return nil, err
	}
	if err := required("ProductType", &doc.ProductType); err != nil {
		return nil, err
	}
	if doc.ProductType != CatalogProductType {
		return nil, invalidParameter("ProductType", "must be %q, got %q", CatalogProductType, doc.ProductType)
	}
	if err := required("ProviderName", &doc.ProviderName); err != nil {
		return nil, err
	}
	if d, ok := c.take("Description"); ok {
		if d == "" {
			return nil, invalidParameter("Description", "must be 1 to 128 characters")
		}
		doc.Description = d
	}
	topType, hasTopType := c.take("TemplateType")
	vp, err := c.versionParameters()
	if err != nil {
		return nil, err
	}
	if err := c.unknown(); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		name string
		v    *string
	}{{".ProductVersionName", vp.ProductVersionName}, {".Description", vp.Description}, {".Guidance", vp.Guidance}, {".TemplateUrl", vp.TemplateURL}} {
		if p.v != nil && *p.v == "" {
			return nil, invalidParameter(versionParamsName+p.name, "must not be empty")
		}
	}
	if vp.TemplateURL == nil {
		return nil, missingParameter(versionParamsName + ".TemplateUrl")
	}
	for _, t := range []struct {
		name string
		v    *string
	}{{"TemplateType", &topType}, {versionParamsName + ".TemplateType", vp.TemplateType}} {
		if t.v == nil || (*t.v == "" && t.name == "TemplateType" && !hasTopType) {
			continue
		}
		if *t.v != TemplateTypeROS && *t.v != TemplateTypeStackwave {
			return nil, invalidParameter(t.name, "must be %q or %q, got %q", TemplateTypeROS, TemplateTypeStackwave, *t.v)
		}
	}
	if hasTopType && vp.TemplateType != nil && topType != *vp.TemplateType {
		return nil, invalidParameter("TemplateType", "%q differs from %s.TemplateType (%q)", topType, versionParamsName, *vp.TemplateType)
	}
	tplURL, ok := CatalogTemplateURL(*vp.TemplateURL)
	if !ok {
		return nil, invalidParameter(versionParamsName+".TemplateUrl",
			"must be a template URL that CreateTemplate returns (%stpl-...), got %q", store.TemplateURLPrefix, *vp.TemplateURL)
	}
	doc.TemplateURL = tplURL
	if vp.ProductVersionName != nil {
		doc.VersionName = *vp.ProductVersionName
	}
	if vp.Description != nil {
		doc.VersionDescription = *vp.Description
	}
	if vp.Guidance != nil {
		doc.Guidance = product.Guidance(*vp.Guidance)
	}
	doc.Active = vp.Active

	if err := validate.Document(doc, s.validateOptions()); err != nil {
		var ve *validate.Error
		if errors.As(err, &ve) && len(ve.Errors) > 0 {
			fe := ve.Errors[0]
			return nil, invalidParameter(cmp.Or(catalogFields[fe.Field], fe.Field), "%s", fe.Detail)
		}
		return nil, err
	}
	ctx := c.r.Context()
	// As in the native API: the name is judged as a resource, and a name
	// taken by a product the caller may not see answers the refusal a
	// policy would give, not "already exists".
	if err := c.authorize(ProductResource(doc.Name)); err != nil {
		return nil, err
	}
	if err := s.hiddenName(ctx, c.call, doc.Name); err != nil {
		return nil, err
	}
	// A template the caller may neither read nor create is answered as a
	// missing one.
	t, err := s.st.GetTemplate(ctx, doc.TemplateURL)
	var refused error
	if err == nil {
		if refused = c.check(ActionGetTemplate, TemplateResource(t.ID)); refused != nil && c.may(ActionCreateTemplate, TemplateResource(t.ID)) {
			refused = nil
		}
	}
	if errors.Is(err, store.ErrNotFound) || refused != nil {
		if refused != nil {
			// The audit keeps the authorizer's own reason.
			c.resource, c.denial = TemplateResource(t.ID), refused
		}
		return nil, invalidParameter(versionParamsName+".TemplateUrl", "no template %s in this catalog", *vp.TemplateURL)
	} else if err != nil {
		return nil, err
	}
	if taken, err := s.nameTaken(ctx, doc.Name); err != nil {
		return nil, err
	} else if taken {
		return nil, invalidParameter("ProductName", "a product named %q already exists", doc.Name)
	}
	active := true
	if doc.Active != nil {
		active = *doc.Active
	}
	wctx, cancel := c.writeContext()
	defer cancel()
	p, v, err := s.register(wctx, c.call,
		&product.Product{Name: doc.Name, ProviderName: doc.ProviderName, Description: doc.Description, ProductType: doc.ProductType},
		&product.Version{Name: cmp.Or(doc.VersionName, DefaultVersionName), Description: doc.VersionDescription,
			Guidance: doc.Guidance, Active: active, TemplateURL: doc.TemplateURL})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		if derr := s.hiddenName(ctx, c.call, doc.Name); derr != nil {
			return nil, derr // taken meanwhile
		}
		return nil, invalidParameter("ProductName", "a product named %q already exists", doc.Name)
	case errors.Is(err, store.ErrNotFound):
		return nil, invalidParameter(versionParamsName+".TemplateUrl", "no template %s in this catalog", *vp.TemplateURL)
	case err != nil:
		return nil, err
	}
	return CreateProductResult{RequestID: c.id, ProductID: p.ID, ProductVersionID: v.ID}, nil
}

// catalogCreateTemplate stores a stack_deps template from TemplateBody
// (JSON or YAML) and answers its URL, which CreateProduct takes as
// ProductVersionParameters.TemplateUrl.
func (s *Server) catalogCreateTemplate(c *catalogCall) (any, error) {
	if err := c.authorize(AllTemplates); err != nil {
		return nil, err
	}
	body, ok := c.take("TemplateBody")
	if !ok {
		return nil, missingParameter("TemplateBody")
	}
	typ, ok := c.take("TemplateType")
	if !ok {
		return nil, missingParameter("TemplateType")
	}
	if typ != TemplateTypeROS && typ != TemplateTypeStackwave {
		return nil, invalidParameter("TemplateType", "must be %q or %q, got %q", TemplateTypeROS, TemplateTypeStackwave, typ)
	}
	if _, ok := c.take("TerraformVariables"); ok {
		return nil, invalidParameter("TerraformVariables", "a stackwave template has no Terraform variables")
	}
	for k := range c.params {
		if strings.HasPrefix(k, "TerraformVariables.") {
			return nil, invalidParameter(k, "a stackwave template has no Terraform variables")
		}
	}
	if err := c.unknown(); err != nil {
		return nil, err
	}
	opts := s.validateOptions()
	if err := validate.Size(len(body), opts); err != nil {
		return nil, invalidParameter("TemplateBody", "%s", err.(*validate.Error).Errors[0].Detail)
	}
	deps, sh, err := product.DecodeDepsShorthands([]byte(body))
	if err != nil {
		var de *product.DecodeError
		if errors.As(err, &de) {
			return nil, invalidParameter("TemplateBody", "%s", strings.TrimPrefix(de.Error(), product.ErrInvalidArgs.Error()+": "))
		}
		return nil, invalidParameter("TemplateBody", "%v", err)
	}
	// YAML aliases expand a body: the spec as stored and answered is
	// bounded as the body is.
	if canonical, err := json.Marshal(deps); err != nil {
		return nil, err
	} else if err := validate.Size(len(canonical), opts); err != nil {
		return nil, invalidParameter("TemplateBody", "expanded: %s", err.(*validate.Error).Errors[0].Detail)
	}
	opts.Shorthands = sh
	if err := validate.Deps(deps, opts); err != nil {
		var ve *validate.Error
		if errors.As(err, &ve) && len(ve.Errors) > 0 {
			return nil, invalidParameter("TemplateBody", "%s", ve.Errors[0].Error())
		}
		return nil, err
	}
	wctx, cancel := c.writeContext()
	defer cancel()
	t, err := s.st.CreateTemplate(wctx, &store.Template{StackDeps: deps})
	if err != nil {
		return nil, err
	}
	return CreateTemplateResult{RequestID: c.id, TemplateURL: t.URL}, nil
}

// catalogTemplateURL matches the URLs the cloud API's CreateTemplate
// hands out: oss://BUCKET/ACCOUNT/terraform/template/TEMPLATE_ID/template.json.
var catalogTemplateURL = regexp.MustCompile(`^oss://[^/?#]+/(?:[^/?#]+/)*template/(tpl-[0-9a-z]+)/template\.json$`)

// CatalogTemplateURL returns the template URL of this catalog that u
// names, and whether it names one: u is the URL CreateTemplate returns
// (stackwave://templates/tpl-...), or the cloud API's form of it
// (oss://.../template/tpl-.../template.json), which names the template by
// its ID. Versions store the first form.
func CatalogTemplateURL(u string) (string, bool) {
	if id, ok := strings.CutPrefix(u, store.TemplateURLPrefix); ok {
		return u, strings.HasPrefix(id, product.TemplateIDPrefix) && !strings.ContainsAny(id, "/?#")
	}
	if m := catalogTemplateURL.FindStringSubmatch(u); m != nil {
		return store.TemplateURLPrefix + m[1], true
	}
	return "", false
}
