package probe

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	c, err := Parse([]string{"-timeout", "250ms", "http", "http://127.0.0.1:8080/healthz", "200", "300-302", "4xx"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Check{Kind: "http", Target: "http://127.0.0.1:8080/healthz", Timeout: 250 * time.Millisecond,
		Codes: []CodeRange{{200, 200}, {300, 302}, {400, 499}}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if c, _ := Parse([]string{"http", "http://x/"}); !reflect.DeepEqual(c.Codes, DefaultCodes) || c.Timeout != DefaultTimeout {
		t.Fatalf("defaults: %+v", c)
	}
	for _, bad := range [][]string{
		nil, {"tcp"}, {"tcp", "no-port"}, {"tcp", "a:1", "b:2"}, {"udp", "a:1"},
		{"http", "https://a/"}, {"http", "ftp://a/"}, {"http", "http://a/", "99"}, {"http", "http://a/", "6xx"},
		{"http", "http://a/", "300-200"}, {"-timeout", "0s", "tcp", "a:1"}, {"-nope", "tcp", "a:1"},
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): want an error", bad)
		}
	}
}

func TestMainRunsProbes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.WriteHeader(http.StatusOK)
		case "/moved":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("warming up"))
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"tcp", addr}, 0, "ready: tcp " + addr + " accepts connections"},
		{[]string{"-timeout", "500ms", "tcp", closedAddr}, 1, "not ready"},
		{[]string{"http", srv.URL + "/healthz"}, 0, "answered 200"},
		{[]string{"http", srv.URL + "/down"}, 1, `answered 503 "warming up"`},
		{[]string{"http", srv.URL + "/down", "503"}, 0, "ready"},
		{[]string{"http", srv.URL + "/down", "5xx"}, 0, "ready"},
		{[]string{"http", srv.URL + "/down", "200-299"}, 1, "not ready"},
		{[]string{"http", srv.URL + "/moved"}, 0, "answered 302"}, // in 200-399, not followed
		{[]string{"http", srv.URL + "/moved", "200"}, 1, "not ready"},
		{[]string{"http", "http://" + closedAddr + "/"}, 1, "not ready"},
		{[]string{"udp", addr}, 1, `probe: unknown check "udp"`},
	} {
		var out bytes.Buffer
		if code := Main("probe", tc.args, &out); code != tc.code || !strings.Contains(out.String(), tc.out) {
			t.Errorf("%q: exit %d, output %q; want %d and %q", tc.args, code, out.String(), tc.code, tc.out)
		}
	}
}

func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := &Check{Kind: "http", Target: srv.URL, Codes: DefaultCodes, Timeout: 200 * time.Millisecond}
	begun := time.Now()
	if _, err := c.Run(context.Background()); err == nil {
		t.Fatal("want a timeout error")
	}
	if d := time.Since(begun); d > time.Minute { // the server answers never
		t.Fatalf("the check took %s with a 200ms timeout", d)
	}
}
