package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes      = 16 << 20
	DefaultEventPollInterval = 200 * time.Millisecond
)

// Options configure a Server. A nil *Options, like the zero value, means
// the defaults.
type Options struct {
	// Authenticator identifies callers; nil serves every request as
	// auth.Anonymous().
	Authenticator auth.Authenticator
	// Authorizer decides what callers may do; nil allows everything.
	// Serve such a Server on loopback only.
	Authorizer auth.Authorizer
	// MaxBodyBytes bounds request bodies (413 beyond); zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives one line per request and the causes of internal
	// errors; nil discards them.
	Logger *slog.Logger
	// RequestID returns a new request ID; nil means "req-" and 20
	// random characters.
	RequestID func() string
	// ReuseRequestID takes the X-Request-Id a client sends as the
	// request's ID when it is one ValidRequestID accepts (at most
	// MaxRequestIDLength letters, digits and "-_.:@"), so that a proxy's
	// or a caller's ID runs through the logs; any other value, or none,
	// gets a fresh ID from RequestID. Either way the response's
	// X-Request-Id header and body say which ID the request had. Set it
	// when the clients are trusted to send distinct IDs: the audit log
	// records what they send.
	ReuseRequestID bool
	// TracerProvider makes a server span for every request, named by
	// its route ("GET /api/deployments/{name}") and child of the trace
	// context the request carries; handlers, and the operations they
	// submit, run in that span. nil means otel's global provider, a
	// no-op unless the program set one.
	TracerProvider trace.TracerProvider
	// MeterProvider records the HTTP server metrics of otel's semantic
	// conventions (http.server.request.duration and the body sizes, by
	// method, route and status); nil means otel's global provider.
	MeterProvider metric.MeterProvider
	// Propagator reads the trace context of requests; nil means otel's
	// global propagator once the program has set one, and W3C Trace
	// Context and Baggage (traceparent, tracestate, baggage) until then.
	Propagator propagation.TextMapPropagator
	// Catalog lists the unit and volume types specs may use; nil means
	// stack.DefaultCatalog(). Give the store the same one.
	Catalog *stack.Catalog
	// EventPollInterval is not used: event streams subscribe to the
	// store (*store.Store.SubscribeEvents), whose appends wake them at
	// once, in every replica on PostgreSQL.
	//
	// Deprecated: it has no effect.
	EventPollInterval time.Duration
	// ShowEnvValues makes responses show the env values of specs.
	// By default they read "KEY=<redacted>", as env values may be
	// secrets.
	ShowEnvValues bool
	// Limits bound the documents and specs the server accepts (and the
	// instances a scale may reach); nil means validate.DefaultLimits().
	// A negative field lifts that limit.
	Limits *validate.Limits
	// StreamWriteTimeout bounds each write and flush of a stream (event
	// streams, and any other long-lived response): a client that does
	// not read for this long is dropped. Zero means
	// DefaultStreamWriteTimeout; negative, no bound.
	StreamWriteTimeout time.Duration
	// MaxStreams bounds the streams served at once (429 beyond); zero
	// means DefaultMaxStreams, negative no bound.
	MaxStreams int
	// MaxStreamsPerPrincipal bounds the streams one principal holds at
	// once (429 beyond); zero means DefaultMaxStreamsPerPrincipal,
	// negative no bound.
	MaxStreamsPerPrincipal int
	// MaxLogLines and MaxLogBytes bound a log response that does not
	// follow (GET /api/deployments/{name}/logs): it stops, with a last
	// record saying so, before it would pass either. A line counts as
	// the bytes its instance wrote, its text and newline, as
	// runtime.LimitLogs counts (the NDJSON records that carry the lines
	// are larger). Zero means DefaultMaxLogLines and DefaultMaxLogBytes.
	MaxLogLines int
	MaxLogBytes int64
	// AccessKeys verify the signatures of the Service Catalog
	// compatible API (see CatalogHandler); nil refuses its requests.
	AccessKeys *auth.AccessKeys
	// Metrics, when set, serves GET /metrics (such as the Prometheus
	// exposition of the program's metrics) to callers the Authorizer
	// allows ActionReadMetrics on MetricsResource; nil leaves the route
	// out.
	Metrics http.Handler
}

// Server is the control-plane HTTP API over a store and an executor. Make
// one with New; it is an http.Handler safe for concurrent use.
type Server struct {
	st   *store.Store
	ex   *deploy.Executor
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	// handler serves a request behind the trace and metrics middleware.
	handler http.Handler

	closeOnce sync.Once
	closing   chan struct{}
	streams   streams
}

var _ http.Handler = (*Server)(nil)

// New returns the API over st and ex. ex must record in st; it may be nil
// for a catalog without deployments, whose deployment routes then answer
// 501.
func New(st *store.Store, ex *deploy.Executor, opts *Options) *Server {
	if st == nil {
		panic("api: nil store")
	}
	if ex != nil && ex.Store() != st {
		panic("api: the executor records in another store")
	}
	s := &Server{st: st, ex: ex, mux: http.NewServeMux(), closing: make(chan struct{})}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.MaxBodyBytes <= 0 {
		s.opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.opts.EventPollInterval <= 0 {
		s.opts.EventPollInterval = DefaultEventPollInterval
	}
	if s.opts.RequestID == nil {
		s.opts.RequestID = newRequestID
	}
	if s.opts.StreamWriteTimeout == 0 {
		s.opts.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	if s.opts.MaxStreams == 0 {
		s.opts.MaxStreams = DefaultMaxStreams
	}
	if s.opts.MaxStreamsPerPrincipal == 0 {
		s.opts.MaxStreamsPerPrincipal = DefaultMaxStreamsPerPrincipal
	}
	if s.opts.Limits == nil {
		s.opts.Limits = validate.DefaultLimits()
	}
	s.log = s.opts.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
	if s.opts.Metrics != nil {
		rt := route{pattern: "GET /metrics", action: ActionReadMetrics, handle: s.serveMetrics}
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
	// The Service Catalog compatible API: its clients send everything to
	// the root, signed with access keys rather than bearer tokens.
	s.mux.HandleFunc("POST /{$}", s.serveCatalog)
	s.mux.HandleFunc("GET /{$}", s.serveCatalog)
	s.handler = s.traced(http.HandlerFunc(s.serve))
	return s
}

// CloseStreams ends the streams in progress, a write blocked on a client
// that does not read included, and answers new ones 503, so that
// http.Server.Shutdown, which waits for every request, completes within
// its grace period: register it with http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.streams.closeAll()
	})
}

// Streams returns the number of streams in progress.
func (s *Server) Streams() int { return s.streams.count() }

// route is one entry of the route table.
type route struct {
	pattern string
	action  string
	// needsExecutor routes answer 501 without one.
	needsExecutor bool
	handle        func(c *call) error
	// params are the query parameters the route reads; others are
	// refused, so that a typo does not pass silently.
	params []string
}

// Kinds of routes.
const (
	catalog    = false
	deployment = true
)

func (s *Server) routes() []route {
	return []route{
		{"POST /api/products", ActionCreateProduct, catalog, s.createProduct, nil},
		{"GET /api/products", ActionListProducts, catalog, s.listProducts, []string{"page_number", "page_size", "product_name", "q", "newest"}},
		{"GET /api/products/{product}", ActionGetProduct, catalog, s.getProduct, nil},
		{"PATCH /api/products/{product}", ActionUpdateProduct, catalog, s.updateProduct, nil},
		{"DELETE /api/products/{product}", ActionDeleteProduct, catalog, s.deleteProduct, nil},

		{"POST /api/products/{product}/versions", ActionCreateVersion, catalog, s.createVersion, nil},
		{"GET /api/products/{product}/versions", ActionListVersions, catalog, s.listVersions, []string{"content_hash"}},
		{"GET /api/versions/{version}", ActionGetVersion, catalog, s.getVersion, nil},
		{"PATCH /api/versions/{version}", ActionUpdateVersion, catalog, s.updateVersion, nil},
		{"DELETE /api/versions/{version}", ActionDeleteVersion, catalog, s.deleteVersion, nil},

		{"POST /api/templates", ActionCreateTemplate, catalog, s.createTemplate, nil},
		{"GET /api/templates/{template}", ActionGetTemplate, catalog, s.getTemplate, nil},

		{"GET /api/deployments", ActionListDeployments, deployment, s.listDeployments, []string{"product_id", "product_version_id", "status"}},
		{"POST /api/deployments", ActionLaunchProduct, deployment, s.launch, nil},
		{"GET /api/deployments/{name}", ActionGetDeployment, deployment, s.getDeployment, []string{"instances", "instance_offset", "instance_limit"}},
		{"PUT /api/deployments/{name}/reconcile", ActionReconcileDeployment, deployment, s.setReconcile, nil},
		{"DELETE /api/deployments/{name}", ActionDeleteDeployment, deployment, s.deleteDeployment, nil},
		{"POST /api/deployments/{name}/preview", ActionPreviewDeployment, deployment, s.preview, nil},
		{"POST /api/deployments/{name}/update", ActionUpdateDeployment, deployment, s.update, nil},
		{"POST /api/deployments/{name}/terminate", ActionTerminateDeployment, deployment, s.terminate, nil},
		{"POST /api/deployments/{name}/stacks/{stack}/restart", ActionRestartStack, deployment, s.stackOp(store.OpRestart), nil},
		{"POST /api/deployments/{name}/stacks/{stack}/stop", ActionStopStack, deployment, s.stackOp(store.OpStop), nil},
		{"POST /api/deployments/{name}/stacks/{stack}/start", ActionStartStack, deployment, s.stackOp(store.OpStart), nil},
		{"POST /api/deployments/{name}/stacks/{stack}/services/{service}/scale", ActionScaleService, deployment, s.scale, nil},
		{"GET /api/deployments/{name}/operations", ActionListOperations, deployment, s.listOperations, nil},
		{"GET /api/deployments/{name}/operations/{operation}", ActionGetOperation, deployment, s.getOperation, nil},
		{"GET /api/deployments/{name}/events", ActionStreamEvents, deployment, s.streamEvents, []string{"operation_id", "after_seq"}},
		{"GET /api/deployments/{name}/logs", ActionReadLogs, deployment, s.streamLogs, []string{"stack", "service", "instance", "follow", "since", "tail", "timestamps"}},
	}
}

// ServeHTTP serves the API. Every response carries an X-Request-Id
// header, and every JSON body a request_id.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The route is known before the request is served, so that its
	// server span and metrics are named by the route's pattern, not by
	// the path, which holds names and IDs.
	_, pattern := s.mux.Handler(r)
	r = r.WithContext(r.Context())
	r.Pattern = pattern
	s.handler.ServeHTTP(w, r)
}

// serve serves a request whose Pattern is its route's, or empty when no
// route matches.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := s.requestID(r)
	rw := &responseWriter{ResponseWriter: w}
	header := rw.Header()
	header.Set("X-Request-Id", id)
	header.Set("X-Content-Type-Options", "nosniff")
	header.Set("Cache-Control", "no-store")
	c := &call{s: s, w: rw, r: r, id: id}
	c.annotate(attrRequestID.String(id))
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			c.logError("panic", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !rw.wroteHeader {
				c.fail(newError(http.StatusInternalServerError, MsgInternal))
			}
		}
		principal := ""
		if c.principal != nil {
			principal = c.principal.Name
		}
		c.info("request", "method", r.Method, "path", r.URL.Path, "route", c.r.Pattern,
			"principal", principal, "status", rw.status, "bytes", rw.bytes, "duration", time.Since(start))
		c.audit(principal)
	}()

	if r.Pattern == "" {
		h, _ := s.mux.Handler(r)
		// No route: let the mux say whether the path exists with another
		// method (405, with Allow) or not at all (404), and answer in
		// JSON rather than in its plain text.
		probe := &statusProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if allow := probe.header.Get("Allow"); allow != "" {
			header.Set("Allow", allow)
		}
		switch probe.status {
		case http.StatusMethodNotAllowed:
			c.fail(newError(http.StatusMethodNotAllowed, MsgMethodNotAllowed,
				Detail{Type: TypeNotSupported, Detail: "method " + r.Method + " is not allowed here; allowed: " + probe.header.Get("Allow")}))
		default:
			c.fail(newError(http.StatusNotFound, MsgNotFound, Detail{Type: TypeNoRoute, Detail: "no route " + r.Method + " " + r.URL.Path}))
		}
		return
	}
	s.mux.ServeHTTP(rw, r.WithContext(withCall(r.Context(), c)))
}

// Outcomes in the audit log.
const (
	OutcomeSucceeded       = "succeeded"
	OutcomeFailed          = "failed"
	OutcomeDenied          = "denied"
	OutcomeUnauthenticated = "unauthenticated"
)

// audit logs, once, a request that may change something (any method but
// GET, HEAD and OPTIONS) or that was refused for want of credentials or
// rights: principal, action, resource, outcome, status and request ID,
// and for a denial the authorizer's reason, which the caller may not
// have been told (it may have been answered 404). Bodies, parameters and
// values are never logged.
func (c *call) audit(principal string) {
	status := c.w.status
	if status == 0 {
		status = http.StatusOK
	}
	outcome := OutcomeSucceeded
	switch {
	case c.denial != nil || status == http.StatusForbidden:
		outcome = OutcomeDenied
	case status == http.StatusUnauthorized:
		outcome = OutcomeUnauthenticated
	case status >= 400:
		outcome = OutcomeFailed
	}
	switch c.r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		if outcome != OutcomeDenied && outcome != OutcomeUnauthenticated {
			return
		}
	}
	attrs := []any{"principal", principal, "action", c.action, "resource", c.resource,
		"outcome", outcome, "status", status}
	if c.denial != nil {
		attrs = append(attrs, "reason", c.denial.Error())
	}
	c.info("audit", attrs...)
}

// wrap returns the handler of a route: it authenticates the caller and
// runs the route, answering its error.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := callFrom(r.Context())
		c.r, c.action = r, rt.action
		if err := s.authenticate(c); err != nil {
			c.fail(err)
			return
		}
		q, err := c.query(rt.params...)
		if err != nil {
			c.fail(err)
			return
		}
		c.q = q
		if rt.needsExecutor && s.ex == nil {
			c.fail(newError(http.StatusNotImplemented, MsgNotImplemented,
				Detail{Type: TypeNotSupported, Detail: "this server runs no deployments"}))
			return
		}
		if err := rt.handle(c); err != nil {
			c.fail(err)
		}
	})
}

func (s *Server) authenticate(c *call) error {
	if s.opts.Authenticator == nil {
		c.principal = auth.Anonymous()
		return nil
	}
	p, err := s.opts.Authenticator.Authenticate(c.r)
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) {
			v := `Bearer realm="stackwave"`
			if c.r.Header.Get("Authorization") != "" {
				v += `, error="invalid_token"`
			}
			c.w.Header().Set("WWW-Authenticate", v)
			return err
		}
		return newError(http.StatusInternalServerError, MsgInternal).withCause(fmt.Errorf("authenticate: %w", err))
	}
	c.principal = p
	return nil
}

// call is one request being served.
type call struct {
	s         *Server
	w         *responseWriter
	r         *http.Request
	id        string
	action    string
	principal *auth.Principal
	q         url.Values // the query, checked against the route's parameters
	// resource is the first resource the route's action was authorized
	// on (or the one denied), and denial the authorizer's refusal, for
	// the audit log.
	resource string
	denial   error
}

// authorize checks that the caller may perform the route's action on
// each of the resources.
func (c *call) authorize(resources ...string) error {
	return c.authorizeAction(c.action, resources...)
}

func (c *call) authorizeAction(action string, resources ...string) error {
	az := c.s.opts.Authorizer
	for _, res := range resources {
		if action == c.action && c.resource == "" {
			c.resource = res // the route's first resource, for the audit
		}
		if az == nil {
			continue
		}
		if err := az.Authorize(c.r.Context(), c.principal, action, res); err != nil {
			if errors.Is(err, auth.ErrDenied) {
				c.resource, c.denial = res, err
				return err
			}
			return newError(http.StatusInternalServerError, MsgInternal).withCause(fmt.Errorf("authorize: %w", err))
		}
	}
	return nil
}

// may reports whether the caller may perform action on res, recording
// nothing.
func (c *call) may(action, res string) bool { return c.check(action, res) == nil }

// check returns the authorizer's answer to the caller performing action
// on res, recording nothing.
func (c *call) check(action, res string) error {
	az := c.s.opts.Authorizer
	if az == nil {
		return nil
	}
	return az.Authorize(c.r.Context(), c.principal, action, res)
}

// hide answers a denial on a resource the caller named (kind and key as
// the caller wrote them) exactly as the absence of that resource, unless
// the caller may see it (action see on one of res): callers learn
// nothing of resources they may not see, whether they exist or not. The
// audit log keeps the real reason. Other errors pass unchanged.
func (c *call) hide(err error, kind, key, see string, res ...string) error {
	if !errors.Is(err, auth.ErrDenied) {
		return err
	}
	for _, r := range res {
		if c.may(see, r) {
			return err
		}
	}
	return notFound(kind, key).withCause(err)
}

// takenFromView answers a create (or rename) of res whose name is taken
// by a resource the caller may not see (action see on none of seeRes):
// the same 403 an Authorizer gives when it refuses the route's action on
// res, so that the answer does not confirm that anything exists there.
// It returns nil when the caller may see the resource, which is then
// reported as a duplicate. The audit log keeps the real reason.
func (c *call) takenFromView(res, see string, seeRes ...string) error {
	for _, r := range seeRes {
		if c.may(see, r) {
			return nil
		}
	}
	name := auth.AnonymousName
	if c.principal != nil {
		name = c.principal.Name
	}
	c.resource = res
	c.denial = fmt.Errorf("%w: %s is taken by a resource %s may not see", auth.ErrDenied, res, name)
	return c.refusal(res)
}

// refusal returns the refusal of the route's action on res in the
// authorizer's words (see auth.Refuser).
func (c *call) refusal(res string) error {
	p := c.principal
	if p == nil {
		p = auth.Anonymous()
	}
	if rf, ok := c.s.opts.Authorizer.(auth.Refuser); ok {
		err := rf.Refuse(c.r.Context(), p, c.action, res)
		switch {
		case err == nil:
		case errors.Is(err, auth.ErrDenied):
			return err
		default:
			return newError(http.StatusInternalServerError, MsgInternal).withCause(fmt.Errorf("refuse: %w", err))
		}
	}
	return &auth.DeniedError{Principal: p.Name, Action: c.action, Resource: res}
}

// body reads the request body, at most MaxBodyBytes of it (413 beyond).
func (c *call) body() ([]byte, error) {
	max := c.s.opts.MaxBodyBytes
	if c.r.ContentLength > max {
		return nil, c.tooLarge()
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, c.tooLarge()
		}
		return nil, newError(http.StatusBadRequest, MsgInvalidBody,
			Detail{Type: TypeInvalid, Detail: "the body could not be read"}).withCause(err)
	}
	return b, nil
}

func (c *call) tooLarge() *Error {
	return newError(http.StatusRequestEntityTooLarge, MsgTooLarge,
		Detail{Type: TypeTooLong, Detail: fmt.Sprintf("the body must be at most %d bytes", c.s.opts.MaxBodyBytes)})
}

// decodeSpec reads a JSON body that holds a spec strictly into v,
// checking its size against the limits, and returns where its stack_deps
// used shorthand forms.
func (c *call) decodeSpec(v any) (product.Shorthands, error) {
	b, err := c.body()
	if err != nil {
		return nil, err
	}
	if err := validate.Size(len(b), c.s.validateOptions()); err != nil {
		return nil, err
	}
	sh, err := product.DecodeJSONShorthands(b, v)
	if err != nil {
		return nil, newError(http.StatusBadRequest, MsgInvalidBody, decodeDetail(err)).withCause(err)
	}
	return sh, nil
}

// decode reads a JSON body strictly into v; an empty body leaves v as
// it is when optional is set.
func (c *call) decode(v any, optional bool) error {
	b, err := c.body()
	if err != nil {
		return err
	}
	if optional && len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := product.DecodeJSON(b, v); err != nil {
		return newError(http.StatusBadRequest, MsgInvalidBody, decodeDetail(err)).withCause(err)
	}
	return nil
}

// ok writes a 200 response with the JSON body v.
func (c *call) ok(v any) error {
	b, err := marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	c.writeJSON(http.StatusOK, b)
	return nil
}

// marshal encodes v as one line of JSON. "<", ">" and "&" stay as they
// are ("KEY=<redacted>"): the bodies are never HTML.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeJSON writes a JSON body, which ends with a newline.
func (c *call) writeJSON(status int, b []byte) {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(status)
	_, _ = c.w.Write(b)
}

// fail answers an error. Causes of internal errors are logged with the
// request ID, never sent.
func (c *call) fail(err error) {
	if c.w.wroteHeader {
		// A stream already started: nothing more can be said.
		closing := false
		select {
		case <-c.s.closing:
			closing = true
		default:
		}
		switch {
		case closing || errors.Is(err, errStreamClosed):
			c.info("stream closed by the server")
		case errors.Is(err, os.ErrDeadlineExceeded):
			c.info("client dropped: it did not read within the stream write timeout")
		case c.r.Context().Err() != nil:
			c.info("client went away", "error", err)
		default:
			c.logError("request failed after the response started", "error", err)
		}
		return
	}
	e := toError(err)
	if cause := e.cause; cause != nil {
		switch {
		case clientGone(c.r.Context(), cause):
			c.info("client went away", "error", cause)
		case e.Status >= 500:
			c.logError("request failed", "status", e.Status, "error", cause)
		default:
			c.info("request refused", "status", e.Status, "error", cause)
		}
	}
	out := *e
	out.RequestID = c.id
	b, merr := marshal(&out)
	if merr != nil { // cannot happen: strings and slices of strings
		b = []byte(`{"message":"Internal error","code":"500"}` + "\n")
	}
	c.writeJSON(e.Status, b)
}

// responseWriter records the status and size of a response for the log,
// and whether it started.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// deadlines of event streams).
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusProbe captures what the mux's own 404 and 405 handlers answer.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(status int)      { p.status = status }

type callKey struct{}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func callFrom(ctx context.Context) *call { return ctx.Value(callKey{}).(*call) }

const idAlphabet = "0123456789abcdefghijklmnopqrstuv"

func newRequestID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[b[i]&31]
	}
	return "req-" + string(b[:])
}
