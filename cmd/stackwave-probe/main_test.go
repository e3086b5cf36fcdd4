package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.WriteHeader(http.StatusOK)
		case "/moved":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
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
		want int
	}{
		{[]string{"tcp", addr}, 0},
		{[]string{"-timeout", "500ms", "tcp", closedAddr}, 1},
		{[]string{"http", srv.URL + "/healthz"}, 0},
		{[]string{"http", srv.URL + "/down"}, 1},
		{[]string{"http", srv.URL + "/down", "503"}, 0},
		{[]string{"http", srv.URL + "/down", "5xx"}, 0},
		{[]string{"http", srv.URL + "/down", "200-299"}, 1},
		{[]string{"http", srv.URL + "/moved"}, 0}, // 302 is in 200-399, not followed
		{[]string{"http", srv.URL + "/moved", "200"}, 1},
		{[]string{"http", "http://" + closedAddr + "/"}, 1},
		// Usage errors never pass.
		{nil, 1},
		{[]string{"tcp"}, 1},
		{[]string{"tcp", "no-port"}, 1},
		{[]string{"udp", addr}, 1},
		{[]string{"http", "https://" + addr}, 1},
		{[]string{"http", srv.URL, "99"}, 1},
		{[]string{"-timeout", "0s", "tcp", addr}, 1},
	} {
		var out bytes.Buffer
		if got := run(tc.args, &out); got != tc.want {
			t.Errorf("stackwave-probe %q = %d, want %d; output %q", tc.args, got, tc.want, out.String())
		}
	}
}
