package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/propagation"

	"github.com/stackwave/stackwave/store"
)

// maxResponseBytes bounds the responses a Client reads.
const maxResponseBytes = 64 << 20

// Client calls a stackwave API server. Its methods return an *Error for
// an error response, and are safe for concurrent use.
type Client struct {
	// URL is the server's base URL, e.g. "http://127.0.0.1:8080".
	URL string
	// Token, when set, is sent as a bearer token.
	Token string
	// HTTPClient sends the requests; nil means http.DefaultClient. Give
	// one for TLS settings, a proxy, timeouts or an instrumented
	// transport.
	HTTPClient *http.Client
	// Authenticate, when set, puts the credentials on each request
	// (a signature, a cookie, a token from a source that refreshes it),
	// after the bearer Token, if any, and the other headers are set; an
	// error it returns is returned without sending the request.
	Authenticate func(*http.Request) error
	// Propagator writes the trace context of the ctx of each call into
	// its request; nil means otel's global propagator once the program
	// has set one, and W3C Trace Context and Baggage until then.
	Propagator propagation.TextMapPropagator
}

// NewClient returns a Client of the server at url that sends its
// requests with hc (nil: http.DefaultClient) and no credentials; set
// Token or Authenticate for some.
func NewClient(url string, hc *http.Client) *Client {
	return &Client{URL: url, HTTPClient: hc}
}

// Do sends a request to path (e.g. "/api/products") and decodes the JSON
// response into out (nil discards it). body is sent as JSON: a []byte or
// json.RawMessage as it is, anything else marshalled; nil sends none.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case json.RawMessage:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, r)
	if err != nil {
		return err
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.send(req, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return responseError(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// send sends req, with the caller's credentials and trace context, by
// the client's HTTP client.
func (c *Client) send(req *http.Request, path string) (*http.Response, error) {
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	propagator(c.Propagator).Inject(req.Context(), propagation.HeaderCarrier(req.Header))
	if c.Authenticate != nil {
		if err := c.Authenticate(req); err != nil {
			return nil, fmt.Errorf("%s %s: authenticate: %w", req.Method, path, err)
		}
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	return hc.Do(req)
}

// CreateProduct registers a product document (JSON, as the seed API
// takes it) and its first version.
func (c *Client) CreateProduct(ctx context.Context, doc []byte) (*CreateProductResponse, error) {
	out := new(CreateProductResponse)
	return out, c.Do(ctx, http.MethodPost, "/api/products", doc, out)
}

// ListProducts returns one page of products. Newest is honoured; the
// other fields map onto product_name, q, page_number and page_size.
func (c *Client) ListProducts(ctx context.Context, q store.ProductQuery) (*ProductList, error) {
	v := url.Values{}
	if q.Name != "" {
		v.Set("product_name", q.Name)
	}
	if q.Text != "" {
		v.Set("q", q.Text)
	}
	if q.Page != 0 {
		v.Set("page_number", strconv.Itoa(q.Page))
	}
	if q.PageSize != 0 {
		v.Set("page_size", strconv.Itoa(q.PageSize))
	}
	if q.Newest {
		v.Set("newest", "true")
	}
	path := "/api/products"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	out := new(ProductList)
	return out, c.Do(ctx, http.MethodGet, path, nil, out)
}

// GetProduct returns a product, by ID or name, with its versions.
func (c *Client) GetProduct(ctx context.Context, idOrName string) (*ProductResponse, error) {
	out := new(ProductResponse)
	return out, c.Do(ctx, http.MethodGet, "/api/products/"+url.PathEscape(idOrName), nil, out)
}

// DeleteProduct deletes a product, by ID or name, and its versions.
func (c *Client) DeleteProduct(ctx context.Context, idOrName string) (*DeleteProductResponse, error) {
	out := new(DeleteProductResponse)
	return out, c.Do(ctx, http.MethodDelete, "/api/products/"+url.PathEscape(idOrName), nil, out)
}

// responseError decodes an error response.
func responseError(resp *http.Response, data []byte) *Error {
	e := &Error{}
	if json.Unmarshal(data, e) != nil || e.Message == "" {
		e = &Error{Message: http.StatusText(resp.StatusCode), Code: strconv.Itoa(resp.StatusCode)}
	}
	e.Status = resp.StatusCode
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-Id")
	}
	return e
}

// IsStatus reports whether err is an *Error with the given status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}
