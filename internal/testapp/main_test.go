package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// restoreEnvAfter makes the KEY=VALUE overrides that run sets with
// os.Setenv revert when the test ends.
func restoreEnvAfter(t *testing.T, args ...string) []string {
	for _, a := range args {
		if k, _, ok := strings.Cut(a, "="); ok {
			t.Setenv(k, os.Getenv(k))
		}
	}
	return args
}

func TestExitSubcommand(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"exit", "1", "init", "failed"}, &out, io.Discard); code != 1 {
		t.Fatalf("exit code %d", code)
	}
	s := out.String()
	for _, frag := range []string{`exit: args=["1" "init" "failed"]`, "testapp: init failed", "testapp: exit 1"} {
		if !strings.Contains(s, frag) {
			t.Errorf("output lacks %q:\n%s", frag, s)
		}
	}
	// Every log line starts with a timestamp.
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if _, err := time.Parse("2006-01-02T15:04:05.000Z07:00", strings.Fields(line)[0]); err != nil {
			t.Errorf("line without timestamp: %q", line)
		}
	}
	if code := run([]string{"exit"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("bare exit: %d", code)
	}
}

func TestWriteCatSubcommands(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "marker")
	if code := run([]string{"write", p, "hello", "world"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("write: %d", code)
	}
	var out bytes.Buffer
	if code := run([]string{"cat", p}, &out, io.Discard); code != 0 {
		t.Fatalf("cat: %d", code)
	}
	if !strings.HasSuffix(out.String(), "hello world\n") {
		t.Fatalf("cat output: %q", out.String())
	}
	if code := run([]string{"cat", p + ".missing"}, io.Discard, io.Discard); code != 1 {
		t.Fatalf("cat missing: %d", code)
	}
}

func TestSleepSubcommand(t *testing.T) {
	start := time.Now()
	if code := run([]string{"sleep", "50ms", "4"}, io.Discard, io.Discard); code != 4 {
		t.Fatalf("sleep code %d", code)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("sleep returned early")
	}
}

func TestUnknownSubcommand(t *testing.T) {
	if code := run([]string{"frobnicate"}, io.Discard, io.Discard); code != exitBadConfig {
		t.Fatalf("code %d", code)
	}
}

func TestServeBadConfig(t *testing.T) {
	t.Setenv("TESTAPP_HTTP", "notaport")
	var out bytes.Buffer
	if code := run(nil, &out, io.Discard); code != exitBadConfig {
		t.Fatalf("code %d", code)
	}
	if !strings.Contains(out.String(), "bad configuration") {
		t.Fatalf("output: %s", out.String())
	}
}

func TestServeExitAfter(t *testing.T) {
	var out bytes.Buffer
	t.Setenv("TESTAPP_LOG_LINES", "3")
	code := run(restoreEnvAfter(t, "serve", "TESTAPP_EXIT_AFTER=20ms", "TESTAPP_EXIT_CODE=3"), &out, io.Discard)
	if code != 3 {
		t.Fatalf("code %d\n%s", code, out.String())
	}
	for _, frag := range []string{"log line 3/3", "ready", "shutting down with exit code 3", "exit 3"} {
		if !strings.Contains(out.String(), frag) {
			t.Errorf("output lacks %q:\n%s", frag, out.String())
		}
	}
}

func TestServeRequiredFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "x.conf")
	os.WriteFile(conf, []byte("key = value"), 0o644)
	// The app's ready timer may still write after run returns, so each
	// run gets its own buffer, read under its lock.
	out := new(syncBuffer)
	code := run(restoreEnvAfter(t, "TESTAPP_PRINT_FILE="+conf, "TESTAPP_REQUIRE_FILE=1", "TESTAPP_EXIT_AFTER=0"), out, io.Discard)
	if code != 0 {
		t.Fatalf("code %d\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "\nkey = value\n") || !strings.Contains(out.String(), "---- end "+conf) {
		t.Fatalf("file not printed:\n%s", out.String())
	}
	out = new(syncBuffer)
	code = run(restoreEnvAfter(t, "TESTAPP_PRINT_FILE="+conf+".missing", "TESTAPP_REQUIRE_FILE=true", "TESTAPP_EXIT_AFTER=0"), out, io.Discard)
	if code != exitMissingFile {
		t.Fatalf("missing required file: code %d\n%s", code, out.String())
	}
}

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "x.conf")
	os.WriteFile(conf, []byte("a=1\n"), 0o644)
	t.Setenv("TESTAPP_SOMETHING", "value 1")

	s := &server{cfg: config{Service: "web"}, log: newLogger(io.Discard, "web"), started: time.Now(), hostname: "h1"}
	srv := httptest.NewServer(s.handler(8080))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, _ := get("/healthz"); code != 503 {
		t.Fatalf("healthz before ready: %d", code)
	}
	s.ready.Store(true)
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz when ready: %d %q", code, body)
	}
	s.unhealthy.Store(true)
	if code, _ := get("/healthz"); code != 503 {
		t.Fatalf("healthz when unhealthy: %d", code)
	}

	code, body := get("/")
	var info rootInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil || code != 200 {
		t.Fatalf("/: %d %q %v", code, body, err)
	}
	if info.Hostname != "h1" || info.Service != "web" || info.Port != 8080 || !info.Ready || info.Uptime == "" {
		t.Fatalf("/: %+v", info)
	}
	if code, _ := get("/nope"); code != 404 {
		t.Fatalf("/nope: %d", code)
	}
	if code, body := get("/env?k=TESTAPP_SOMETHING"); code != 200 || body != "value 1" {
		t.Fatalf("/env: %d %q", code, body)
	}
	if code, _ := get("/env?k=TESTAPP_UNSET_VAR"); code != 404 {
		t.Fatalf("/env unset: %d", code)
	}
	if code, body := get("/file?path=" + conf); code != 200 || body != "a=1\n" {
		t.Fatalf("/file: %d %q", code, body)
	}
	if code, _ := get("/file?path=" + conf + ".missing"); code != 404 {
		t.Fatalf("/file missing: %d", code)
	}
	code, body = get("/dns?name=localhost")
	var d dnsInfo
	if err := json.Unmarshal([]byte(body), &d); err != nil || code != 200 || len(d.Addrs) == 0 {
		t.Fatalf("/dns localhost: %d %q %v", code, body, err)
	}
	// A failed lookup comes from a stub: a real one would ask the
	// machine's DNS server about a name that does not exist.
	s.lookupHost = func(ctx context.Context, name string) ([]string, error) {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	code, body = get("/dns?name=no-such-host.invalid")
	if err := json.Unmarshal([]byte(body), &d); err != nil || code != 404 || d.Error == "" {
		t.Fatalf("/dns invalid: %d %q %v", code, body, err)
	}
}

// syncBuffer is a bytes.Buffer safe for the writes of goroutines that
// outlive the call that started them.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
