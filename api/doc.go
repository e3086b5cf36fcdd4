// Package api is the control-plane HTTP API of stackwave: a net/http
// Handler over a *store.Store and a deploy.Executor that catalogues
// products and deploys them, compatible with what clients of the seed API
// already send.
//
//	st, _ := storeurl.Open(ctx, "sqlite:stackwave.db")
//	ex := deploy.New(rt, st, nil)
//	srv := api.New(st, ex, &api.Options{Authenticator: tokens, Authorizer: policy})
//	http.ListenAndServe("127.0.0.1:8080", srv)
//
// Bodies are JSON with snake_case names. Request bodies are decoded
// strictly (see product.Decode): an unknown field, a field given twice or
// in another case, a value of the wrong type, invalid UTF-8 or trailing
// data is an error naming the field as the body wrote it, with its line
// and column. Specs are stored and returned normalised: envs written as an
// object come back as a "K=V" list sorted by name, a single access_point
// as the first entry of access_points. Every response carries an X-Request-Id
// header, and every JSON body the same "request_id", which the server's
// log lines carry too.
//
// # Routes
//
// Every route has an action name, and acts on a resource name; policies
// name both (see Authorization). {product} is a product ID or name; the
// resource of a product is always its ID.
//
//	method path                                            action                  resource
//	POST   /api/products                                   CreateProduct           swn:product/*
//	GET    /api/products                                   ListProducts            swn:product/*
//	GET    /api/products/{product}                         GetProduct              swn:product/<id>
//	PATCH  /api/products/{product}                         UpdateProduct           swn:product/<id>
//	DELETE /api/products/{product}                         DeleteProduct           swn:product/<id>
//	POST   /api/products/{product}/versions                CreateVersion           swn:product/<id>
//	GET    /api/products/{product}/versions                ListVersions            swn:product/<id>
//	GET    /api/versions/{version}                         GetVersion              swn:version/<id>
//	PATCH  /api/versions/{version}                         UpdateVersion           swn:version/<id>
//	DELETE /api/versions/{version}                         DeleteVersion           swn:version/<id>
//	POST   /api/templates                                  CreateTemplate          swn:template/*
//	GET    /api/templates/{template}                       GetTemplate             swn:template/<id>
//	GET    /api/deployments                                ListDeployments         swn:deployment/*
//	POST   /api/deployments                                LaunchProduct           swn:deployment/<name> and swn:product/<id>
//	GET    /api/deployments/{name}                         GetDeployment           swn:deployment/<name>
//	DELETE /api/deployments/{name}                         DeleteDeployment        swn:deployment/<name>
//	POST   /api/deployments/{name}/preview                 PreviewDeployment       swn:deployment/<name>
//	POST   /api/deployments/{name}/update                  UpdateDeployment        swn:deployment/<name> and swn:product/<id>
//	POST   /api/deployments/{name}/terminate               TerminateDeployment     swn:deployment/<name>
//	POST   /api/deployments/{name}/stacks/{stack}/restart  RestartStack            swn:deployment/<name>
//	POST   /api/deployments/{name}/stacks/{stack}/stop     StopStack               swn:deployment/<name>
//	POST   /api/deployments/{name}/stacks/{stack}/start    StartStack              swn:deployment/<name>
//	POST   /api/deployments/{name}/stacks/{stack}/services/{service}/scale
//	                                                       ScaleService            swn:deployment/<name>
//	GET    /api/deployments/{name}/operations              ListOperations          swn:deployment/<name>
//	GET    /api/deployments/{name}/operations/{operation}  GetOperation            swn:deployment/<name>
//	GET    /api/deployments/{name}/events                  StreamEvents            swn:deployment/<name>
//	GET    /api/deployments/{name}/logs                    ReadLogs                swn:deployment/<name>
//	PUT    /api/deployments/{name}/reconcile               ReconcileDeployment     swn:deployment/<name>
//	GET    /metrics (when Options.Metrics is set)          ReadMetrics             swn:metrics
//	POST   /   (and GET /), Service Catalog compatible API  CreateProduct, CreateTemplate (see below)
//
// Action names start with "stackwave:" (ActionCreateProduct...). Launch
// and update need the action on the version's product too, so a policy
// can say which products a caller may deploy. Success is 200 everywhere,
// as in the seed API.
//
// POST /api/products takes a product document (product.Document:
// product_name and stack_deps, or template_url, plus the optional catalog
// fields provider_name, description, product_type, visibility, tags and
// the first version's version_name, version_description, guidance and
// active) and answers {"product_id", "product_version_id"}. The provider
// defaults to the caller's name, the version name to [DefaultVersionName],
// active to true. The product and its version are written at once
// (*store.Store.Register): sending the same document again answers the same
// IDs, and a different document under a taken name is a 400 duplicate.
// GET /api/products pages with page_number and page_size
// (1 to 100, default 10), filters by product_name (exact) and q (a
// case-insensitive substring of the name, provider or description), and
// sorts oldest first unless newest=true.
//
// Documents and specs are bounded by Options.Limits (validate.Limits;
// by default validate.DefaultLimits): the bytes of a body that holds a
// spec, tiers, stacks per tier, services, envs per service, instances per
// service and per deployment. Exceeding one is a 400 whose detail names
// the field and the limit ("stack_deps: ... (limit max-services)"); a
// scale that would exceed one is refused the same way. An error answer
// lists at most [MaxDetails] problems.
//
// Launch, update, terminate, restart, stop, start and scale answer at
// once with {"operation_id", "deployment"} ([Submitted]): the operation is
// recorded before the answer and then runs in the server, whether or not
// the client stays. Follow it with the events route or
// GET .../operations/{operation}; GET /api/deployments/{name} shows the
// deployment with its stacks, services, endpoints and last operation
// ([deploy.Status]): its verdict ("status": never Available while
// something desired does not run or is not in sync; Degraded or Drifted
// then, with "recorded_status" the record's own), its health (running,
// degraded, missing) apart from its sync (in-sync, drifted, out-of-date),
// and per service what drifted ("drift": missing, stopped, image,
// replicas, tier, hash). Instances are listed only when asked, a page at a time,
// so that no answer grows with the deployment: ?instances=true, with
// instance_offset (default 0) and instance_limit (default 100, at most
// 1000); "instances" in the answer gives the offset, limit, total and the
// next offset. PUT /api/deployments/{name}/reconcile {"paused": true}
// makes a server's reconciler (serve --reconcile) leave the deployment
// alone whatever drifts; {"paused": false} hands it back; it answers
// with the deployment.
//
// Specs in responses show env values as "KEY=<redacted>" unless
// [Options].ShowEnvValues is set; listings of deployments leave out their
// parameters. Error responses never carry stack traces, store errors or
// env values: an internal error is logged with its request ID and answered
// with that ID alone.
//
// # Events
//
// GET /api/deployments/{name}/events streams one operation's events as
// Server-Sent Events: operation_id names it (default: the last operation).
// Each event's id is its sequence number in the deployment's log and its
// data an [Event] in JSON. The stream replays the log (after the
// Last-Event-ID header, or the after_seq parameter) and then follows it
// until the operation-done or operation-failed event of the operation,
// the client going away, or [Server.CloseStreams]. The last event is
// stored with the record that ends the operation, in one transaction:
// once a client has it, the deployment record shows the outcome. It reads the
// store's log, so it follows operations that another replica runs, or
// that a replica took over after a crash. A reconnecting EventSource that
// has seen the end gets 204, which stops it. When the operation still
// runs, the comment line ": caught-up" follows the replayed events: what
// comes after it is live.
//
// Streams are bounded: each write must complete within
// Options.StreamWriteTimeout (a client that does not read is dropped),
// a server serves at most Options.MaxStreams at once and a principal
// holds at most Options.MaxStreamsPerPrincipal (429 Too Many Requests,
// with Retry-After, beyond), and [Server.CloseStreams] ends every stream
// at once, a write blocked on a silent client included, and answers new
// ones 503.
//
// # Logs
//
// GET /api/deployments/{name}/logs streams what the deployment's
// instances wrote to stdout and stderr, read by the runtime
// (runtime.LogReader: the Docker engine's container logs, the pods' logs
// through the Kubernetes API, the simulated runtime's configured lines),
// as NDJSON (Content-Type application/x-ndjson): one [LogEntry] per line,
//
//	{"stack":"web","service":"nginx","instance":"web-1-web-nginx-1","stream":"stdout","text":"GET / 200"}
//
// flushed as each line is read. Query parameters, all optional:
//
//	stack, service, instance  narrow the selection (service needs stack,
//	                          instance needs service; an instance is named
//	                          as GET /api/deployments/{name}?instances=true
//	                          lists it)
//	follow=true               keep the response open for new lines until
//	                          every selected instance stopped, the client
//	                          goes or the server shuts down
//	since=T                   lines written at or after T: an RFC 3339 time,
//	                          or a duration back from now ("10m")
//	tail=N                    the last N lines of each instance (default all)
//	timestamps=true           add each line's "time", when the runtime
//	                          knows it
//
// Without follow, instances come one after another (stacks by tier then
// name, services by name) and a line's order within an instance is the
// order it was written; with follow, lines of instances interleave as they
// come. "stream" is empty where the runtime records stdout and stderr as
// one (Kubernetes). Text is the line without its newline; invalid UTF-8 is
// replaced, and lines longer than runtime.MaxLogLine bytes arrive in
// pieces. stackwave adds nothing to what the services wrote: no env value
// or other setting appears unless a service printed it.
//
// A response that does not follow is bounded: it stops before
// Options.MaxLogLines lines (default [DefaultMaxLogLines]) or
// Options.MaxLogBytes bytes (default [DefaultMaxLogBytes]) of lines, each
// counted as the text its instance wrote and its newline (the records that
// carry them are larger), and then ends with one record
// {"truncated": true, "text": "..."} saying so; the command line's local
// mode stops at the same line, through the same runtime.LimitLogs. A failure
// after the response started ends it with a record {"error": "..."}. A
// deployment, stack, service or instance that does not exist is a 404
// before anything is streamed; logs a runtime cannot read at all (a node
// without a kubelet, as in kwok) a 501; a runtime that cannot be reached
// a 503. ReadLogs is its own action, apart from GetDeployment, since
// what services print may be more than their status shows. [Client.Logs]
// reads the route as a runtime.LogStream.
//
// # Status codes
//
//	200  success
//	400  the body or the query is wrong: "Invalid ProductArgs" (create
//	     product, body not decodable; the detail names the field, line
//	     and column), "Invalid ProductName or StackDeps" (create product,
//	     rules broken, a limit exceeded or name taken; details list every
//	     problem), "Invalid request body" (other routes, with the field),
//	     "Invalid request" (rules broken, a limit exceeded, unknown query
//	     parameter, unknown failure policy...)
//	401  no valid credentials (WWW-Authenticate: Bearer)
//	403  the policy does not allow the action on a collection (listing,
//	     creating) or on a resource the caller may see; the detail says
//	     which and why
//	404  no such route, product, version, template, deployment or
//	     operation, or one the caller may not see
//	405  the route exists for other methods (Allow lists them)
//	409  the request conflicts with the current state: a stale revision,
//	     a name taken (except on create product, which answers 400 as the
//	     seed API does), a deployment that exists, is busy with another
//	     operation or has an interrupted one, a version in use, the
//	     record of a deployment that is not terminated, a launch or
//	     update to an inactive version (detail type "Inactive", field
//	     product_version_id)
//	413  the body is larger than Options.MaxBodyBytes
//	429  too many streams, of the caller or of the server
//	500  an internal error (see the log under the request ID)
//	501  a deployment route on a Server without executor; logs the
//	     runtime cannot read
//	503  a stream asked for while the server shuts down; logs: the
//	     runtime cannot be reached
//	623  "Create Product Error": the store failed to create the product
//	624  "Delete Product Error": the product is deployed (the detail names
//	     the deployments) or the store failed
//
// Bodies are not refused for their Content-Type: clients such as curl -d
// label JSON as a form, and the strict decoder refuses what is not JSON.
//
// Error bodies are [Error] values; details are [Detail] values whose type
// is one of validate's field error types or a Type constant of this
// package. The caller is authenticated before anything else, and
// authorized before the body is read, except on launch, whose body names
// the deployment.
//
// # Authorization
//
// Options.Authenticator identifies the caller (401 when it cannot) and
// Options.Authorizer decides, for each resource a route acts on, whether
// the caller may perform the route's action (403 when not). Package
// api/auth has both interfaces and the built-ins: bearer tokens from a
// file, and JSON policies of Allow and Deny statements with wildcard
// actions and resources, where an explicit Deny wins and nothing is
// allowed unless a statement allows it.
//
// Deny means not found: when a route's action on a product, version,
// template, deployment or operation the caller named is denied, and the
// caller may not see that resource either (stackwave:GetProduct,
// GetVersion, GetTemplate or GetDeployment on it), the answer is the 404
// that a missing resource gets, naming it as the caller did, in the same
// body whether it exists or not; a missing resource is judged by the
// name given. A caller who may see the resource gets 403 with the reason.
// The reason of every denial stays in the server's audit log.
//
// Names are resources too: creating a product is authorized on
// swn:product/* and then on swn:product/<name>, a rename on the new name,
// and a launch on swn:deployment/<name>. A create, rename or launch under
// a name taken by a product or deployment the caller may not see (no
// GetProduct or GetDeployment on it) is answered with the 403 an
// authorizer gives when it refuses the action on that name, in the native
// API and in the Service Catalog compatible CreateProduct alike: not
// "already exists", not the taken deployment's status and, for a product
// document identical to the stored one, not the stored product's IDs.
// Names are unique, so a name nobody may take is all such a caller
// learns; a caller who may see the resource is told it exists.
//
// Listings show only what the caller may see: GET /api/products, the
// versions in GET /api/products/{product} and
// GET /api/products/{product}/versions, and GET /api/deployments list an
// item only when the caller may get it (stackwave:GetProduct,
// GetVersion or GetDeployment on it, the check above). The product
// listing filters before it pages: page_number, page_size and total count
// visible products only, so no page comes back short and no total counts
// a hidden product. To do so the server reads every product that matches
// the query (100 at a time) and asks the authorizer about each, on every
// listing request; without an authorizer the store's page is answered as
// it is. A product created during a listing may move others between the
// store's pages: none is listed twice, one may be missed, as on any
// listing read while the catalog changes.
//
// # Audit log
//
// Every request that may change something (any method but GET, HEAD and
// OPTIONS) and every request refused for want of credentials or rights
// is logged once, at level Info with the message "audit", through
// Options.Logger: request_id, principal, action, resource, outcome
// (succeeded, failed, denied, unauthenticated), status, and for a denial
// the authorizer's reason. Bodies, parameters and values are never
// logged.
//
// A refusal is answered in the authorizer's words: its error's text, a
// [auth.DeniedError] with the Reason it gave. For a name taken by a
// resource the caller may not see (above) the API words the refusal
// itself: it asks an [auth.Refuser] for it (the built-in Policy is one),
// and otherwise answers a DeniedError without Reason, which reads
// "PRINCIPAL may not perform ACTION on RESOURCE".
//
// Without an Authorizer every caller may do everything: serve such a
// Server on loopback only, as "stackwave serve" does.
//
// # Service Catalog compatibility
//
// Clients of Alibaba Cloud's Service Catalog (API version 2021-09-01) call
// the server unchanged, with an SDK client whose endpoint is the server's
// address: POST / (or GET /) with the action and its parameters, signed
// with an access key of Options.AccessKeys (serve --access-keys FILE).
// Both ways the SDKs send a request are taken:
//
//   - current SDKs: the action and version in the x-acs-action and
//     x-acs-version headers, the parameters in the query (nested ones,
//     such as ProductVersionParameters, as one JSON string), signed by an
//     "Authorization: ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,
//     Signature=..." header with x-acs-date, x-acs-signature-nonce and
//     x-acs-content-sha256;
//   - the RPC style of older SDKs: Action, Version, AccessKeyId,
//     SignatureMethod=HMAC-SHA1, SignatureVersion, SignatureNonce,
//     Timestamp and Signature among the parameters, in the query or a form
//     body, nested ones flattened (ProductVersionParameters.TemplateUrl).
//
// A wrong signature, an unknown key, a date more than 15 minutes from the
// server's clock and a nonce seen before are refused. The key's principal
// and groups go through Options.Authorizer as a native caller's would,
// with the same actions (stackwave:CreateProduct on swn:product/*,
// stackwave:CreateTemplate on swn:template/*).
//
// CreateTemplate takes TemplateBody (a stack_deps spec, JSON or YAML) and
// TemplateType, and answers {"RequestId", "TemplateUrl"}: the template's
// URL, stackwave://templates/tpl-..., which POST /api/templates answers
// too. CreateProduct takes the parameters of the cloud API's table:
// ProductName, ProviderName (1 to 128 characters) and ProductType ("Ros")
// required, Description, TemplateType, and ProductVersionParameters
// (ProductVersionName, Description, Guidance, Active, TemplateType and
// TemplateUrl, which is required: the template must be stored here). A
// TemplateType is RosTerraformTemplate, as clients of the cloud send, or
// StackwaveTemplate; both name a stored stackwave template. TemplateUrl is
// the URL CreateTemplate answered, or the cloud's form of it,
// oss://BUCKET/ACCOUNT/terraform/template/tpl-.../template.json, which
// names the template by its ID; the version stores the first form. The
// answer is {"RequestId", "ProductId", "ProductVersionId"}. An unknown
// parameter is refused.
//
// Errors come in the cloud API's shape, {"RequestId", "Code", "Message"},
// which the SDKs raise as their own error type: MissingParameter and
// InvalidParameter (400, the message naming the parameter),
// SignatureDoesNotMatch, IncompleteSignature, MissingSignature,
// InvalidTimeStamp.Expired, SignatureNonceUsed (400),
// InvalidAccessKeyId.NotFound (404), Forbidden.RAM (403),
// InvalidAction.NotFound (404), InvalidVersion (400) and InternalError
// (500, the cause logged under the request ID).
//
// # Tracing, request IDs and logs
//
// Every request runs in a server span of Options.TracerProvider (otel's
// global provider by default), named by its route's pattern
// ("GET /api/products/{product}"; a request no route matches by its
// method alone) and child of the trace context the request carries, read
// by Options.Propagator: by default otel's global propagator once the
// program has set one, and W3C Trace Context (traceparent, tracestate)
// and Baggage until then. The span has the attributes of otel's HTTP
// semantic conventions, stackwave.request_id, and for a submitted
// operation stackwave.deployment and stackwave.operation_id; the
// operation runs with the request's context values, its span included.
// Options.MeterProvider records http.server.request.duration and the
// body sizes by method, route and status. A Client passes the trace
// context of each call's ctx on the same way.
//
// A request's ID is fresh (Options.RequestID), unless
// Options.ReuseRequestID is set and the client sent an X-Request-Id
// that ValidRequestID accepts: at most MaxRequestIDLength ASCII letters,
// digits and "-_.:@", which cannot break a log line or a header. Either
// way the response's X-Request-Id header and body give the ID.
//
// Options.Logger receives each record with the request's context (a
// handler may read its span there) and the attributes request_id and,
// when the request is traced, trace_id and span_id.
//
// # Serving
//
// Serve the handler with an http.Server that sets ReadHeaderTimeout,
// ReadTimeout, WriteTimeout (event streams lift it for themselves) and
// IdleTimeout; register [Server.CloseStreams] with RegisterOnShutdown so
// that Shutdown ends event streams, and close the executor after
// Shutdown. A control plane calls Executor.ResumeAll at start and then
// every lease TTL, so that operations of a replica that died are taken
// over.
package api
