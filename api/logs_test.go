package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
)

// logHarness serves a launched "web-1" (stack web, service nginx) whose
// instances print n lines to stdout and one to stderr.
func logHarness(t testing.TB, n int, o *harnessOptions) *harness {
	t.Helper()
	if o == nil {
		o = &harnessOptions{}
	}
	o.sim = &sim.Options{Output: func(d, s, svc string) (stdout, stderr []string) {
		for i := 1; i <= n; i++ {
			stdout = append(stdout, fmt.Sprintf("line %d", i))
		}
		return stdout, []string{"warning"}
	}}
	h := newHarness(t, o)
	_, vid := h.create(smallDoc("web"))
	var sub api.Submitted
	h.must("POST", "/api/deployments", `{"name": "web-1", "product_version_id": "`+vid+`"}`, &sub)
	if op := h.waitOp("web-1", sub.OperationID); op.Status != store.OpSucceeded {
		t.Fatalf("launch: %+v", op)
	}
	return h
}

func decodeLogs(t testing.TB, body []byte) []api.LogEntry {
	t.Helper()
	var out []api.LogEntry
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		var e api.LogEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("record %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestLogs(t *testing.T) {
	h := logHarness(t, 3, nil)
	res := h.do("GET", "/api/deployments/web-1/logs", "")
	if res.status != 200 || res.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("logs: %s (%s)", res, res.header.Get("Content-Type"))
	}
	got := decodeLogs(t, res.body)
	var texts []string
	for _, e := range got {
		if e.Stack != "web" || e.Service != "nginx" || e.Instance == "" || !e.Time.IsZero() {
			t.Errorf("record %+v: want web/nginx, an instance, no time without timestamps", e)
		}
		texts = append(texts, e.Stream+":"+e.Text)
	}
	if want := "stdout:line 1,stdout:line 2,stdout:line 3,stderr:warning"; strings.Join(texts, ",") != want {
		t.Errorf("lines %v, want %s", texts, want)
	}
	// The env value of the service (API_KEY=sup3r-s3cret) is never added.
	if strings.Contains(string(res.body), "sup3r") {
		t.Errorf("the response shows an env value: %s", res.body)
	}

	got = decodeLogs(t, h.do("GET", "/api/deployments/web-1/logs?stack=web&service=nginx&tail=1&timestamps=true", "").body)
	if len(got) != 1 || got[0].Text != "warning" || got[0].Time.IsZero() {
		t.Errorf("tail=1&timestamps=true: %+v", got)
	}
	got = decodeLogs(t, h.do("GET", "/api/deployments/web-1/logs?since=2999-01-01T00:00:00Z", "").body)
	if len(got) != 0 {
		t.Errorf("since the future: %+v", got)
	}

	for _, tc := range []struct {
		path           string
		status         int
		field, typ, in string
	}{
		{"/api/deployments/nope/logs", 404, "", "NotFound", "nope"},
		{"/api/deployments/web-1/logs?stack=db", 404, "", "NotFound", `no stack "db"`},
		{"/api/deployments/web-1/logs?stack=web&service=mysql", 404, "", "NotFound", `no service "mysql"`},
		{"/api/deployments/web-1/logs?stack=web&service=nginx&instance=x", 404, "", "NotFound", `no instance "x"`},
		{"/api/deployments/web-1/logs?service=nginx", 400, "stack", "Required", "needs its stack"},
		{"/api/deployments/web-1/logs?tail=0", 400, "tail", "Invalid", "1 or more"},
		{"/api/deployments/web-1/logs?tail=x", 400, "tail", "Invalid", "1 or more"},
		{"/api/deployments/web-1/logs?since=yesterday", 400, "since", "Invalid", "RFC 3339"},
		{"/api/deployments/web-1/logs?follow=maybe", 400, "follow", "Invalid", "true or false"},
		{"/api/deployments/web-1/logs?lines=3", 400, "lines", "NotSupported", "unknown query parameter"},
	} {
		res := h.do("GET", tc.path, "")
		msg := api.MsgNotFound
		if tc.status == 400 {
			msg = api.MsgInvalidRequest
		}
		e := wantError(t, res, tc.status, msg)
		if len(e.Details) == 0 || e.Details[0].Field != tc.field || e.Details[0].Type != tc.typ || !strings.Contains(e.Details[0].Detail, tc.in) {
			t.Errorf("%s: details %+v, want field %q type %s with %q", tc.path, e.Details, tc.field, tc.typ, tc.in)
		}
	}
}

// TestLogsBounded: without follow a response stops at the server's
// bounds with a last record that says so.
func TestLogsBounded(t *testing.T) {
	h := logHarness(t, 50, &harnessOptions{api: api.Options{MaxLogLines: 10}})
	got := decodeLogs(t, h.do("GET", "/api/deployments/web-1/logs", "").body)
	if len(got) != 11 || !got[10].Truncated || got[9].Text != "line 10" || !strings.Contains(got[10].Text, "10 lines") {
		t.Errorf("%d records, last %+v; want 10 lines and a truncated record", len(got), got[len(got)-1])
	}
	// A line counts as its text and newline, not as its record: "line 1"
	// to "line 9" take 7 bytes each, "line 10" to "line 13" 8, 95 in
	// all; "line 14" would pass 100.
	h = logHarness(t, 50, &harnessOptions{api: api.Options{MaxLogBytes: 100}})
	got = decodeLogs(t, h.do("GET", "/api/deployments/web-1/logs", "").body)
	if len(got) != 14 || got[12].Text != "line 13" || !got[13].Truncated || !strings.Contains(got[13].Text, "100 bytes") {
		t.Errorf("%d records, last %+v; want 13 lines and a truncated record", len(got), got[len(got)-1])
	}
}

// TestLogsClient follows logs through api.Client until the instance
// exits, and reads them bounded, over a real HTTP server.
func TestLogsClient(t *testing.T) {
	h := logHarness(t, 2, &harnessOptions{api: api.Options{MaxLogLines: 2}})
	ts := httptest.NewServer(h.srv)
	defer ts.Close()
	ctx := context.Background()
	c := &api.Client{URL: ts.URL}

	s, err := c.Logs(ctx, "web-1", runtime.LogQuery{Stack: "web", Service: "nginx", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 3; i++ { // line 1, line 2, warning
		l, err := s.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if l.Stack != "web" || l.Service != "nginx" || l.Time.IsZero() {
			t.Errorf("line %+v: want web/nginx with its time", l)
		}
	}
	h.rt.Crash("web-1", "web", "nginx", 7)
	l, err := s.Next()
	if err != nil || l.Text != "exited with code 7" || l.Stream != runtime.Stderr {
		t.Errorf("after the crash: %+v %v, want the exit line", l, err)
	}
	if _, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("once the instance exited: %v, want io.EOF", err)
	}

	// Bounded, the stream ends with ErrLogsTruncated.
	s, err = c.Logs(ctx, "web-1", runtime.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	for {
		_, err := s.Next()
		if err != nil {
			if !errors.Is(err, api.ErrLogsTruncated) || n != 2 {
				t.Errorf("after %d lines: %v, want 2 and ErrLogsTruncated", n, err)
			}
			break
		}
		n++
	}

	if _, err := c.Logs(ctx, "web-1", runtime.LogQuery{Stack: "db"}); !api.IsStatus(err, http.StatusNotFound) {
		t.Errorf("logs of a missing stack: %v, want 404", err)
	}
}

// TestLogsFollowCancel: a following response ends when the client goes
// and when the server closes its streams.
func TestLogsFollowCancel(t *testing.T) {
	h := logHarness(t, 1, nil)
	ts := httptest.NewServer(h.srv)
	defer ts.Close()
	c := &api.Client{URL: ts.URL}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.Logs(ctx, "web-1", runtime.LogQuery{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 2; i++ {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if _, err := s.Next(); err == nil {
		t.Error("Next after the client's context was cancelled gave a line")
	}

	s, err = c.Logs(context.Background(), "web-1", runtime.LogQuery{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 2; i++ {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	h.srv.CloseStreams()
	done := make(chan error, 1)
	go func() { _, err := s.Next(); done <- err }()
	select {
	case err := <-done:
		// CloseStreams cuts every stream at once, a write blocked on a
		// silent client included, so the response may end without its
		// last chunk.
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("after CloseStreams: %v, want the response to end", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("CloseStreams did not end a following response")
	}
}

// FuzzLogsQuery: any query string gets a response, never a panic: lines
// or a 400/404 that names the problem.
func FuzzLogsQuery(f *testing.F) {
	for _, s := range []string{"", "stack=web&service=nginx&tail=2", "since=10m&timestamps=true", "tail=all&follow=false",
		"since=2025-01-02T03:04:05.999999999Z", "instance=x&service=y", "tail=-1", "tail=99999999999999999999", "%zz"} {
		f.Add(s)
	}
	h := logHarness(f, 2, nil)
	f.Fuzz(func(t *testing.T, raw string) {
		if q, err := url.ParseQuery(raw); err == nil {
			if follow, _ := strconv.ParseBool(q.Get("follow")); follow {
				return // a following response lasts as long as the instances
			}
		}
		req := httptest.NewRequest("GET", "/api/deployments/web-1/logs", nil)
		req.URL.RawQuery = raw
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			decodeLogs(t, rec.Body.Bytes())
		case 400, 404:
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || len(e.Details) == 0 {
				t.Errorf("%q: %d %s", raw, rec.Code, rec.Body)
			}
		default:
			t.Errorf("%q: %d %s", raw, rec.Code, rec.Body)
		}
	})
}
