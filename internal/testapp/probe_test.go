package main

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

func TestParseProbeArgs(t *testing.T) {
	s, err := parseProbeArgs([]string{"tcp", "127.0.0.1:9000"})
	if err != nil || s.Kind != "tcp" || s.Target != "127.0.0.1:9000" || s.Timeout != time.Second {
		t.Fatalf("tcp: %+v %v", s, err)
	}
	s, err = parseProbeArgs([]string{"-timeout", "250ms", "http", "http://127.0.0.1:8080/healthz", "200", "300-302", "4xx"})
	if err != nil {
		t.Fatal(err)
	}
	want := probeSpec{Kind: "http", Target: "http://127.0.0.1:8080/healthz", Timeout: 250 * time.Millisecond,
		Codes: []codeRange{{200, 200}, {300, 302}, {400, 499}}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v want %+v", s, want)
	}
	s, err = parseProbeArgs([]string{"http", "http://x/"})
	if err != nil || !reflect.DeepEqual(s.Codes, defaultCodes) {
		t.Fatalf("default codes: %+v %v", s, err)
	}
	for _, bad := range [][]string{
		nil, {"tcp"}, {"udp", "x:1"}, {"tcp", "nohost"}, {"tcp", "a:1", "b:2"},
		{"http", "127.0.0.1:8080"}, {"http", "http://x/", "abc"}, {"http", "http://x/", "300-200"},
		{"http", "http://x/", "9xx"}, {"-timeout", "0s", "tcp", "a:1"}, {"-bogus", "tcp", "a:1"},
	} {
		if _, err := parseProbeArgs(bad); err == nil {
			t.Errorf("parseProbeArgs(%q): want error", bad)
		}
	}
}

func TestProbeTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	var out bytes.Buffer
	if code := runProbe([]string{"tcp", addr}, &out); code != 0 {
		t.Fatalf("open port: exit %d: %s", code, out.String())
	}
	l.Close()
	out.Reset()
	if code := runProbe([]string{"tcp", addr}, &out); code != 1 {
		t.Fatalf("closed port: exit %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "probe failed") {
		t.Fatalf("output: %s", out.String())
	}
}

func TestProbeHTTP(t *testing.T) {
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte("body text"))
	}))
	defer srv.Close()
	url := srv.URL + "/healthz"

	var out bytes.Buffer
	if code := runProbe([]string{"http", url}, &out); code != 1 {
		t.Fatalf("503: exit %d", code)
	}
	if !strings.Contains(out.String(), "503") || !strings.Contains(out.String(), "body text") {
		t.Fatalf("503 output should show code and body: %s", out.String())
	}
	if code := runProbe([]string{"http", url, "503"}, &out); code != 0 {
		t.Fatalf("503 accepted explicitly: exit %d", code)
	}
	status = http.StatusOK
	if code := runProbe([]string{"http", url}, &out); code != 0 {
		t.Fatalf("200: exit %d", code)
	}
	if code := runProbe([]string{"http", url, "204"}, &out); code != 1 {
		t.Fatalf("200 with only 204 accepted: exit %d", code)
	}
	// Redirects are not followed: the 302 itself is judged.
	if code := runProbe([]string{"http", srv.URL + "/redirect", "2xx"}, &out); code != 1 {
		t.Fatalf("302 with 2xx accepted: exit %d", code)
	}
	if code := runProbe([]string{"http", srv.URL + "/redirect"}, &out); code != 0 {
		t.Fatalf("302 by default: exit %d", code)
	}
}

func TestProbeHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	_, err := probe(context.Background(), probeSpec{Kind: "http", Target: srv.URL, Codes: defaultCodes, Timeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("want a timeout error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("probe took %s, want about 200ms", d)
	}
}
