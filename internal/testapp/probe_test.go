package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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
	if !strings.Contains(out.String(), "not ready") {
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
