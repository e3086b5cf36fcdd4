package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Exit codes of server mode that are not chosen by the configuration.
const (
	exitMissingFile = 2  // a required file is missing
	exitBadConfig   = 64 // the TESTAPP_* variables are wrong (EX_USAGE)
	exitListen      = 71 // a port could not be opened (EX_OSERR)
)

// logger writes timestamped lines to one writer.
type logger struct {
	mu  sync.Mutex
	w   io.Writer
	tag string
}

func newLogger(w io.Writer, service string) *logger {
	tag := "testapp"
	if service != "" {
		tag = "testapp[" + service + "]"
	}
	return &logger{w: w, tag: tag}
}

func (l *logger) Printf(format string, args ...any) {
	line := fmt.Sprintf("%s %s: %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"), l.tag, fmt.Sprintf(format, args...))
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.w, line)
}

// server is the long-running mode of the test app.
type server struct {
	cfg      config
	log      *logger
	started  time.Time
	hostname string

	ready     atomic.Bool
	unhealthy atomic.Bool

	mu        sync.Mutex
	listeners []net.Listener
	https     []*http.Server
	exiting   bool

	// ballast keeps the TESTAPP_ALLOC_MB memory reachable.
	ballast [][]byte

	// lookupHost resolves names for /dns; nil means net.DefaultResolver.
	lookupHost func(ctx context.Context, name string) ([]string, error)
}

func serve(cfg config, stdout, stderr io.Writer) int {
	s := &server{cfg: cfg, log: newLogger(stdout, cfg.Service), started: time.Now()}
	s.hostname, _ = os.Hostname()
	s.log.Printf("starting: pid=%d hostname=%s tcp=%v http=%v ready_after=%s", os.Getpid(), s.hostname, cfg.TCPPorts, cfg.HTTPPorts, cfg.ReadyAfter)

	for i := 1; i <= cfg.LogLines; i++ {
		s.log.Printf("log line %d/%d", i, cfg.LogLines)
	}
	if cfg.Stderr != "" {
		fmt.Fprintln(stderr, cfg.Stderr)
	}
	if code := s.checkFiles(stdout); code != 0 {
		return code
	}
	if cfg.AllocMB > 0 {
		s.alloc(cfg.AllocMB)
	}

	// The first exit code wins; later ones (a signal during an exit
	// timer's shutdown) are dropped rather than block their sender.
	done := make(chan int, 1)
	exit := func(code int) {
		select {
		case done <- code:
		default:
		}
	}
	defer s.handleSignals(exit, stderr)()

	for _, p := range cfg.HTTPPorts {
		if err := s.listenHTTP(p); err != nil {
			s.log.Printf("cannot listen on http port %d: %v", p, err)
			return exitListen
		}
	}
	// Timers are stopped on return: serve runs more than once in the
	// tests' process.
	var timers []*time.Timer
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	timers = append(timers, time.AfterFunc(cfg.ReadyAfter, func() {
		for _, p := range cfg.TCPPorts {
			if err := s.listenTCP(p); err != nil {
				s.log.Printf("cannot listen on tcp port %d: %v", p, err)
				exit(exitListen)
				return
			}
		}
		// Logged first, so that a caller that sees the app ready finds
		// the line in its output.
		s.log.Printf("ready")
		s.ready.Store(true)
	}))
	if cfg.Unhealthy {
		timers = append(timers, time.AfterFunc(cfg.UnhealthyAfter, func() {
			s.unhealthy.Store(true)
			s.log.Printf("now unhealthy: /healthz answers 503")
		}))
	}
	if cfg.Exit {
		timers = append(timers, time.AfterFunc(cfg.ExitAfter, func() {
			s.log.Printf("exit timer fired after %s", cfg.ExitAfter)
			s.log.Printf("shutting down with exit code %d", cfg.ExitCode)
			s.closeAll()
			exit(cfg.ExitCode)
		}))
	}
	code := <-done
	s.log.Printf("exit %d", code)
	return code
}

// checkFiles prints TESTAPP_PRINT_FILE and enforces TESTAPP_REQUIRE_FILE.
func (s *server) checkFiles(stdout io.Writer) int {
	required := map[string]bool{}
	for _, p := range s.cfg.RequireFiles {
		required[p] = true
	}
	for _, p := range s.cfg.PrintFiles {
		b, err := os.ReadFile(p)
		if err != nil {
			if required[p] {
				s.log.Printf("required file %s: %v", p, err)
				return exitMissingFile
			}
			s.log.Printf("file %s: %v", p, err)
			continue
		}
		s.log.Printf("---- begin %s (%d bytes)", p, len(b))
		stdout.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			io.WriteString(stdout, "\n")
		}
		s.log.Printf("---- end %s", p)
	}
	for _, p := range s.cfg.RequireFiles {
		if _, err := os.Stat(p); err != nil {
			s.log.Printf("required file %s: %v", p, err)
			return exitMissingFile
		}
	}
	return 0
}

// alloc allocates and touches mb MiB, so the memory is really resident
// and a memory limit below it gets the container OOM-killed.
func (s *server) alloc(mb int) {
	s.log.Printf("allocating %d MiB", mb)
	const chunk = 1 << 20
	for i := 0; i < mb; i++ {
		b := make([]byte, chunk)
		for j := 0; j < chunk; j += 4096 {
			b[j] = 1
		}
		s.ballast = append(s.ballast, b)
		if (i+1)%64 == 0 && i+1 < mb {
			s.log.Printf("allocated %d MiB", i+1)
		}
	}
	s.log.Printf("allocated %d MiB", mb)
}

// handleSignals handles the signals of the configuration until the
// returned stop function is called.
func (s *server) handleSignals(exit func(code int), stderr io.Writer) (stop func()) {
	crash := map[os.Signal]bool{}
	sigs := []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	for _, sig := range s.cfg.CrashOn {
		crash[sig] = true
		sigs = append(sigs, sig)
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, sigs...)
	go func() {
		for sig := range ch {
			name := signalName(sig)
			switch {
			case crash[sig]:
				s.log.Printf("received %s: crashing with exit code %d", name, s.cfg.CrashCode)
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, true)]
				fmt.Fprintf(stderr, "panic: crash requested by %s\n\n%s", name, buf)
				exit(s.cfg.CrashCode)
				return
			case s.cfg.IgnoreTerm:
				s.log.Printf("received %s: ignored (TESTAPP_IGNORE_TERM)", name)
			default:
				s.log.Printf("received %s: shutting down", name)
				go func() {
					if s.cfg.StopDelay > 0 {
						// The slow stop is the behaviour asked for: this
						// sleep synchronises nothing.
						s.log.Printf("stopping takes %s", s.cfg.StopDelay)
						time.Sleep(s.cfg.StopDelay)
					}
					s.closeAll()
					exit(0)
				}()
			}
		}
	}()
	return func() {
		signal.Stop(ch) // no delivery after it returns
		close(ch)
	}
}

func signalName(sig os.Signal) string {
	if n, ok := sig.(syscall.Signal); ok {
		for name, v := range signalsByName {
			if v == n {
				return "SIG" + name
			}
		}
	}
	return sig.String()
}

func (s *server) listenTCP(port int) error {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	if !s.track(l, nil) {
		return nil
	}
	s.log.Printf("listening on tcp port %d (echo)", port)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return nil
}

func (s *server) listenHTTP(port int) error {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: s.handler(port), ReadHeaderTimeout: 5 * time.Second}
	if !s.track(l, hs) {
		return nil
	}
	s.log.Printf("listening on http port %d", port)
	go hs.Serve(l)
	return nil
}

// track records a listener for shutdown; false means shutdown began and
// the listener was closed instead.
func (s *server) track(l net.Listener, hs *http.Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exiting {
		l.Close()
		return false
	}
	if hs != nil {
		s.https = append(s.https, hs)
	} else {
		s.listeners = append(s.listeners, l)
	}
	return true
}

func (s *server) closeAll() {
	s.mu.Lock()
	s.exiting = true
	ls, hs := s.listeners, s.https
	s.listeners, s.https = nil, nil
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, h := range hs {
		h.Shutdown(ctx)
	}
}

// rootInfo is the JSON answer of GET /.
type rootInfo struct {
	Hostname      string  `json:"hostname"`
	Service       string  `json:"service"`
	Port          int     `json:"port"`
	PID           int     `json:"pid"`
	Ready         bool    `json:"ready"`
	Uptime        string  `json:"uptime"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

// dnsInfo is the JSON answer of GET /dns.
type dnsInfo struct {
	Name  string   `json:"name"`
	Addrs []string `json:"addrs,omitempty"`
	Error string   `json:"error,omitempty"`
}

func (s *server) handler(port int) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		up := time.Since(s.started)
		writeJSON(w, http.StatusOK, rootInfo{
			Hostname:      s.hostname,
			Service:       s.cfg.Service,
			Port:          port,
			PID:           os.Getpid(),
			Ready:         s.ready.Load(),
			Uptime:        up.Round(time.Millisecond).String(),
			UptimeSeconds: up.Seconds(),
		})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !s.ready.Load():
			http.Error(w, "starting", http.StatusServiceUnavailable)
		case s.unhealthy.Load():
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
		default:
			io.WriteString(w, "ok\n")
		}
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		k := r.URL.Query().Get("k")
		v, ok := os.LookupEnv(k)
		if k == "" || !ok {
			http.Error(w, "not set: "+k, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, v)
	})
	mux.HandleFunc("GET /file", func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query().Get("path")
		b, err := os.ReadFile(p)
		switch {
		case p == "":
			http.Error(w, "path is required", http.StatusBadRequest)
		case errors.Is(err, os.ErrNotExist):
			http.Error(w, err.Error(), http.StatusNotFound)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(b)
		}
	})
	mux.HandleFunc("GET /dns", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			writeJSON(w, http.StatusBadRequest, dnsInfo{Error: "name is required"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		lookup := s.lookupHost
		if lookup == nil {
			lookup = net.DefaultResolver.LookupHost
		}
		addrs, err := lookup(ctx, name)
		if err != nil {
			writeJSON(w, http.StatusNotFound, dnsInfo{Name: name, Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, dnsInfo{Name: name, Addrs: addrs})
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := parseInt("code", r.URL.Query().Get("code"), 0, 0, 255)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.log.Printf("exit requested over http with code %d", code)
		// The whole response, its length known, is in the socket before
		// the process ends: the kernel delivers it after the exit.
		body := fmt.Sprintf("exiting with code %d\n", code)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Connection", "close")
		io.WriteString(w, body)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		s.log.Printf("exit %d", code)
		os.Exit(code)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
