package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/telemetry"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/storeurl"
	"github.com/stackwave/stackwave/validate"
)

// Timeouts of the HTTP server. Event streams, which last as long as an
// operation, lift the read and write deadlines for themselves.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 2 * time.Minute
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// shutdownTimeout bounds the wait for requests in flight on SIGINT or
	// SIGTERM.
	shutdownTimeout = 30 * time.Second
)

func serveCmd(fs *flag.FlagSet, env *cliEnv) runner {
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	storeURL := fs.String("store", "sqlite:stackwave.db", "store: "+strings.Join(storeurl.Schemes, ", "))
	rtName := fs.String("runtime", "docker", "runtime: "+runtimeNames)
	concurrency := addConcurrencyFlag(fs)
	var faults []string
	fs.Var(faultFlag{&faults}, "fault", faultUsage)
	tokensFile := fs.String("tokens", "", "bearer token file: TOKEN PRINCIPAL [GROUP...] per line")
	policyFile := fs.String("policy", "", "policy file: JSON Allow and Deny statements")
	reconcile := fs.Duration("reconcile", 0, reconcileUsage)
	leaseTTL := fs.Duration("lease-ttl", deploy.DefaultLeaseTTL, "how long a deployment's lease lasts unrenewed: how soon another replica takes over the operations of one that died")
	keyFile := fs.String("secret-key-file", "", "seal env values and launch variables in the store with these keys: base64 of 32 random bytes a line, the first sealing (rotate: put a new key first, keep the old ones until --reseal has run)")
	reseal := fs.Bool("reseal", false, "with --secret-key-file: re-seal every stored secret with the first key, then serve")
	accessKeysFile, limits := catalogFlags(fs)
	streams := streamFlags(fs)
	reuseRequestID := fs.Bool("reuse-request-id", false, "take a client's X-Request-Id (at most 128 letters, digits and -_.:@) as the request's ID in responses and logs, as when a proxy sets it")
	return func(args []string) int {
		if _, code, ok := wantArgs(env, "serve", args, 0, ""); !ok {
			return code
		}
		if err := limits.Check(); err != nil {
			env.errorf("--%v", err)
			return exitUsage
		}
		if *concurrency < 0 {
			env.errorf("--concurrency %d: want 0 (the runtime's own bound) or more", *concurrency)
			return exitUsage
		}
		if *leaseTTL < time.Second {
			env.errorf("--lease-ttl %s: want 1s or more", *leaseTTL)
			return exitUsage
		}

		log := slog.New(slog.NewTextHandler(env.stderr, nil))
		// Metrics are served on /metrics; traces and metrics go out over
		// OTLP only when the OTEL_EXPORTER_OTLP_* variables say where.
		tel, err := telemetry.New(env.context(), &telemetry.Options{Version: buildVersion().Version})
		if err != nil {
			env.errorf("%v", err)
			return exitUsage
		}
		defer func() {
			// Flush what is still to be exported: the last spans and
			// metrics of the requests and operations shut down above.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(env.context()), shutdownTimeout)
			defer cancel()
			if err := tel.Shutdown(sctx); err != nil {
				env.errorf("telemetry: %v", err)
			}
		}()
		opts := &api.Options{Logger: log, Limits: limits, ReuseRequestID: *reuseRequestID,
			TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
			Metrics: tel.Metrics}
		streams(opts)
		if *accessKeysFile != "" {
			keys, err := auth.LoadAccessKeys(*accessKeysFile, nil)
			if err != nil {
				env.errorf("%v", err)
				return exitUsage
			}
			opts.AccessKeys = keys
		}
		if *tokensFile != "" {
			toks, err := auth.LoadTokens(*tokensFile)
			if err != nil {
				env.errorf("%v", err)
				return exitUsage
			}
			opts.Authenticator = toks
		}
		if *policyFile != "" {
			pol, err := auth.LoadPolicy(*policyFile)
			if err != nil {
				env.errorf("%v", err)
				return exitUsage
			}
			opts.Authorizer = pol
		}
		ctx, stop := signal.NotifyContext(env.context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if opts.Authorizer == nil {
			if !isLoopback(ctx, *addr) {
				env.errorf("--addr %s is not a loopback address: without --policy every caller may do everything; give --policy FILE (and --tokens FILE), or listen on 127.0.0.1", *addr)
				return exitUsage
			}
		}

		rt, closeRuntime, err := openRuntime(ctx, *rtName, faults)
		if err != nil {
			env.errorf("%v", err)
			return codeOf(err)
		}
		defer closeRuntime()
		var sopts *store.Options
		if *keyFile != "" {
			keys, err := store.ReadKeyFile(*keyFile)
			if err != nil {
				env.errorf("--secret-key-file: %v", err)
				return exitUsage
			}
			sopts = &store.Options{Keys: keys}
		}
		st, err := storeurl.OpenOptions(ctx, *storeURL, sopts)
		if err != nil {
			env.errorf("%v", err)
			return codeOf(err)
		}
		defer st.Close()
		if *reseal {
			if sopts == nil {
				env.errorf("--reseal needs --secret-key-file")
				return exitUsage
			}
			n, err := st.Reseal(ctx)
			if err != nil {
				env.errorf("%v", err)
				return codeOf(err)
			}
			fmt.Fprintf(env.stderr, "stackwave: re-sealed %d records with key %s\n", n, sopts.Keys.KeyID())
		}
		if *rtName == "memory" && !strings.HasPrefix(*storeURL, "memory:") {
			env.errorf("runtime memory simulates containers in this process: after a restart the store's deployments run nowhere")
		}
		ex := deploy.New(rt, st, &deploy.Options{LeaseTTL: *leaseTTL, Concurrency: *concurrency,
			TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider})
		srv := api.New(st, ex, opts)

		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			env.errorf("%v", err)
			ex.Close()
			return exitFailed
		}
		hs := &http.Server{
			Handler:           srv,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		hs.RegisterOnShutdown(srv.CloseStreams)

		// Take over the operations of replicas that died, at start and then
		// every lease TTL.
		resumed := make(chan struct{})
		go func() {
			defer close(resumed)
			resumeLoop(ctx, ex, st, *leaseTTL, log)
		}()

		reconciled := startReconciler(ctx, ex, *reconcile, log)

		served := make(chan error, 1)
		go func() { served <- hs.Serve(ln) }()
		url := "http://" + ln.Addr().String()
		if opts.Authorizer == nil {
			env.errorf("no --policy: every caller may do everything, so the server listens on loopback only")
		}
		// The serving line comes last: who waits for it has read every
		// line of the start before it.
		for _, what := range tel.Exporting {
			fmt.Fprintf(env.stderr, "stackwave: exporting %s over OTLP\n", what)
		}
		fmt.Fprintf(env.stderr, "stackwave: serving the API on %s (runtime %s), metrics on %s/metrics\n", url, rt.Name(), url)
		if env.listening != nil {
			env.listening(url)
		}

		code := exitOK
		select {
		case <-ctx.Done():
			env.errorf("shutting down")
		case err := <-served:
			env.errorf("%v", err)
			code = exitFailed
		}
		stop()
		<-resumed
		reconciled()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			env.errorf("shutdown: %v", err)
			_ = hs.Close()
		}
		// Operations still running are handed over: left in progress with
		// their leases released, another replica (or this one restarted)
		// resumes them at once.
		ex.Close()
		return code
	}
}

// catalogFlags declares the flags of what serve accepts: the access keys
// of the Service Catalog compatible API and the limits of documents.
func catalogFlags(fs *flag.FlagSet) (accessKeys *string, limits *validate.Limits) {
	accessKeys = fs.String("access-keys", "", "access key file of the Service Catalog compatible API: ACCESS_KEY_ID ACCESS_KEY_SECRET PRINCIPAL [GROUP...] per line, mode 600")
	limits = validate.DefaultLimits()
	for _, l := range []struct {
		name, what string
		v          *int
	}{
		{"max-document-bytes", "bytes of a product document or spec", &limits.DocumentBytes},
		{"max-tiers", "tiers of a product", &limits.Tiers},
		{"max-stacks-per-tier", "stacks of a tier", &limits.StacksPerTier},
		{"max-services", "services of a product", &limits.Services},
		{"max-envs-per-service", "envs of a service", &limits.EnvsPerService},
		{"max-instances-per-service", "instances of a service (at most 1000)", &limits.InstancesPerService},
		{"max-instances", "instances of a deployment", &limits.Instances},
		{"max-ports", "backend ports of a product's access points", &limits.Ports},
	} {
		fs.IntVar(l.v, l.name, *l.v, "most "+l.what+" accepted; -1: no limit")
	}
	return accessKeys, limits
}

// resumeLoop resumes interrupted operations whose lease has expired or
// was released: now, whenever a replica releases a lease (one handing its
// operations over on its way out), and every interval, until ctx is done
// or the executor is closed. A store that closes ends the wake-ups on
// releases (its watch's channel closes), not the interval.
func resumeLoop(ctx context.Context, ex *deploy.Executor, st *store.Store, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	released := st.SubscribeReleases()
	defer released.Close()
	changed := released.Changed()
	for {
		hs, err := ex.ResumeAll(ctx)
		if errors.Is(err, deploy.ErrClosed) {
			return
		}
		if err != nil && ctx.Err() == nil {
			log.Error("resume interrupted operations", "error", err)
		}
		for _, h := range hs {
			log.Info("resuming an interrupted operation", "deployment", h.Deployment, "operation_id", h.OperationID)
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				break wait
			case _, ok := <-changed:
				if ok {
					break wait
				}
				// Closed with the store: a closed channel would
				// wake this loop at once, every time.
				changed = nil
			}
		}
	}
}

// isLoopback reports whether addr listens on loopback only: a loopback
// IP, or a host name all of whose addresses are loopback ones. An empty
// host means every interface.
func isLoopback(ctx context.Context, addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return false
		}
	}
	return true
}

// runServe runs `stackwave serve args`.
func runServe(args []string, env *cliEnv) int {
	return runEnv(append([]string{"serve"}, args...), env)
}

// streamFlags adds the flags that bound event streams and returns what sets
// them on the API options.
func streamFlags(fs *flag.FlagSet) func(*api.Options) {
	timeout := fs.Duration("stream-write-timeout", api.DefaultStreamWriteTimeout, "drop a stream client that does not read for this long; -1s: never")
	total := fs.Int("max-streams", api.DefaultMaxStreams, "most event streams served at once (429 beyond); -1: no limit")
	per := fs.Int("max-streams-per-principal", api.DefaultMaxStreamsPerPrincipal, "most event streams one caller holds at once (429 beyond); -1: no limit")
	return func(o *api.Options) {
		o.StreamWriteTimeout, o.MaxStreams, o.MaxStreamsPerPrincipal = *timeout, *total, *per
	}
}
