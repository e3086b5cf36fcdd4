package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/waitfor"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// sseEvent is one event of a stream as a client reads it.
type sseEvent struct {
	id   int64
	data api.Event
}

// stream opens an event stream; headers are name, value pairs.
func stream(t *testing.T, ctx context.Context, url string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// readEvents reads a stream to its end.
func readEvents(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.id != 0 {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id, _ = strconv.ParseInt(line[4:], 10, 64)
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &cur.data); err != nil {
				t.Fatalf("data %q: %v", line, err)
			}
		case strings.HasPrefix(line, "retry: "), strings.HasPrefix(line, ":"):
		default:
			t.Errorf("unexpected line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func types(evs []sseEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.data.Type)
		if e.data.Stack != "" {
			out[len(out)-1] += " " + e.data.Stack
		}
	}
	return out
}

func TestEvents(t *testing.T) {
	h := newHarness(t, &harnessOptions{sim: &sim.Options{ApplyLatency: 20 * time.Millisecond, ReadyLatency: 30 * time.Millisecond}})
	_, vid := h.create(seedDoc(t))
	ts := httptest.NewServer(h.srv)
	defer ts.Close()
	ctx := context.Background()

	var sub api.Submitted
	h.must("POST", "/api/deployments", seedLaunch(vid), &sub)
	res := stream(t, ctx, ts.URL+"/api/deployments/kodo/events?operation_id="+sub.OperationID)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("X-Request-Id") == "" {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	evs := readEvents(t, res.Body) // ends by itself with the operation
	// Once the stream has ended, the record shows the outcome.
	if d, _ := h.st.GetDeployment(ctx, "kodo"); d.Status != store.StatusAvailable || d.Operation(sub.OperationID).Status != store.OpSucceeded {
		t.Errorf("after the stream: %s %+v", d.Status, d.Operation(sub.OperationID))
	}
	if len(evs) < 5 {
		t.Fatalf("events %s", types(evs))
	}
	first, last := evs[0].data, evs[len(evs)-1].data
	if first.Type != "operation-started" || last.Type != "operation-done" || last.OperationID != sub.OperationID || last.Deployment != "kodo" {
		t.Errorf("events %s", types(evs))
	}
	ready := map[string]bool{}
	for i, e := range evs {
		if e.id != e.data.Seq || i > 0 && e.id <= evs[i-1].id {
			t.Errorf("event %d: id %d, seq %d", i, e.id, e.data.Seq)
		}
		if e.data.Type == "stack-ready" {
			ready[e.data.Stack] = true
		}
	}
	if len(ready) != 3 {
		t.Errorf("stacks ready: %v", ready)
	}

	// The last operation is the default; a finished one replays and ends.
	res = stream(t, ctx, ts.URL+"/api/deployments/kodo/events")
	if again := readEvents(t, res.Body); len(again) != len(evs) {
		t.Errorf("replay: %d events, want %d", len(again), len(evs))
	}
	// From a point in the log.
	mid := evs[len(evs)/2].id
	res = stream(t, ctx, ts.URL+"/api/deployments/kodo/events?after_seq="+strconv.FormatInt(mid, 10))
	if rest := readEvents(t, res.Body); len(rest) == 0 || rest[0].id != mid+1 {
		t.Errorf("after_seq: %s", types(rest))
	}
	res = stream(t, ctx, ts.URL+"/api/deployments/kodo/events", "Last-Event-ID", strconv.FormatInt(mid, 10))
	if rest := readEvents(t, res.Body); len(rest) == 0 || rest[0].id != mid+1 {
		t.Errorf("Last-Event-ID: %s", types(rest))
	}
	// A client that reconnects after the end is told to stop.
	res = stream(t, ctx, ts.URL+"/api/deployments/kodo/events", "Last-Event-ID", strconv.FormatInt(last.Seq, 10))
	if res.StatusCode != http.StatusNoContent {
		t.Errorf("reconnect after the end: %d", res.StatusCode)
	}

	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/api/deployments/nope/events", 404},
		{"/api/deployments/kodo/events?operation_id=op-nope", 404},
		{"/api/deployments/kodo/events?after_seq=-1", 400},
		{"/api/deployments/kodo/events?follow=1", 400},
	} {
		if res := h.do("GET", tc.path, ""); res.status != tc.status {
			t.Errorf("%s: %s", tc.path, res)
		}
	}
}

func TestEventsOfAFailedOperation(t *testing.T) {
	h := newHarness(t, &harnessOptions{sim: &sim.Options{ReadyLatency: 50 * time.Millisecond}})
	_, vid := h.create(seedDoc(t))
	h.rt.Inject(sim.Fault{Kind: sim.ExitOnStart, Stack: "kodo-1", ExitCode: 3})
	ts := httptest.NewServer(h.srv)
	defer ts.Close()
	var sub api.Submitted
	h.must("POST", "/api/deployments", seedLaunch(vid), &sub)
	evs := readEvents(t, stream(t, context.Background(), ts.URL+"/api/deployments/kodo/events").Body)
	if len(evs) == 0 || evs[len(evs)-1].data.Type != "operation-failed" {
		t.Errorf("events %s", types(evs))
	}
}

// A stream follows an operation while it runs, and ends when the client
// goes or the server closes streams, not before.
func TestEventsFollow(t *testing.T) {
	h := newHarness(t, &harnessOptions{sim: &sim.Options{ReadyLatency: time.Hour}})
	_, vid := h.create(smallDoc("web"))
	ts := httptest.NewServer(h.srv)
	defer ts.Close()
	var sub api.Submitted
	h.must("POST", "/api/deployments", `{"name": "web-1", "product_version_id": "`+vid+`"}`, &sub)

	ctx, cancel := context.WithCancel(context.Background())
	res := stream(t, ctx, ts.URL+"/api/deployments/web-1/events")
	got := make(chan []sseEvent, 1)
	waiting := make(chan struct{}) // closed at the stack-waiting event
	go func() {
		var out []sseEvent
		var cur sseEvent
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "data: ") {
				_ = json.Unmarshal([]byte(line[6:]), &cur.data)
			}
			if line == "" && cur.data.Type != "" {
				if cur.data.Type == string(deploy.EventStackWaiting) {
					close(waiting)
				}
				out = append(out, cur)
				cur = sseEvent{}
			}
		}
		got <- out
	}()
	// The operation now waits for an hour: the stream has caught up with
	// its events and stays open with nothing more to say.
	select {
	case <-waiting:
	case evs := <-got:
		t.Fatalf("the stream ended while the operation runs: %s", types(evs))
	case <-time.After(waitfor.Generous):
		t.Fatal("no stack-waiting event")
	}
	select {
	case evs := <-got:
		t.Fatalf("the stream ended while the operation runs: %s", types(evs))
	default:
	}
	if n := h.srv.Streams(); n != 1 {
		t.Errorf("%d streams open, want the one that follows the operation", n)
	}
	cancel() // the client goes
	select {
	case evs := <-got:
		if len(evs) == 0 || evs[0].data.Type != "operation-started" {
			t.Errorf("events %s", types(evs))
		}
	case <-time.After(waitfor.Generous):
		t.Fatal("the stream did not end with its client")
	}

	// Shutdown ends the streams.
	res = stream(t, context.Background(), ts.URL+"/api/deployments/web-1/events")
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, res.Body)
		close(done)
	}()
	// The response's header came: the stream is open.
	h.srv.CloseStreams()
	select {
	case <-done:
	case <-time.After(waitfor.Generous):
		t.Fatal("CloseStreams did not end the stream")
	}
	d, _ := h.st.GetDeployment(context.Background(), "web-1")
	if d.Status != store.StatusUnderChange {
		t.Errorf("the operation ended: %s", d.Status)
	}
}

// Streams outlive the server's write timeout, which otherwise cuts a
// response that lasts longer.
func TestEventsOutliveWriteTimeout(t *testing.T) {
	h := newHarness(t, &harnessOptions{sim: &sim.Options{ReadyLatency: 400 * time.Millisecond}})
	_, vid := h.create(smallDoc("web"))
	ts := httptest.NewUnstartedServer(h.srv)
	ts.Config.WriteTimeout = 100 * time.Millisecond
	ts.Start()
	defer ts.Close()
	var sub api.Submitted
	h.must("POST", "/api/deployments", `{"name": "web-1", "product_version_id": "`+vid+`"}`, &sub)
	evs := readEvents(t, stream(t, context.Background(), ts.URL+"/api/deployments/web-1/events").Body)
	if len(evs) == 0 || evs[len(evs)-1].data.Type != "operation-done" {
		t.Errorf("events %s", types(evs))
	}
}

// A stream of a running operation ends once the operation ended, also
// when it ended between the stream's first read of the record and its
// subscription, without its last event in the log: nothing would wake
// the stream then.
func TestEventsOfAnOperationThatEndsAsTheStreamOpens(t *testing.T) {
	var st *store.Store
	var armed atomic.Bool
	end := func(ctx context.Context) error {
		d, err := st.GetDeployment(ctx, "web-1")
		if err != nil {
			return err
		}
		d.Status = store.StatusError
		d.Operations[0].Status, d.Operations[0].EndedAt = store.OpFailed, time.Now()
		_, err = st.UpdateDeployment(ctx, d)
		return err
	}
	endErr := make(chan error, 1)
	st = store.New(store.WrapDriver(memory.NewDriver(), store.DriverHooks{
		After: func(ctx context.Context, c store.DriverCall, _ time.Duration, err error) {
			// The stream's first read of the record.
			if c.Method == "Deployment" && c.Key == "web-1" && err == nil && armed.CompareAndSwap(true, false) {
				endErr <- end(context.WithoutCancel(ctx))
			}
		},
	}), nil)
	h := newHarness(t, &harnessOptions{store: st})
	pid, vid := h.create(smallDoc("web"))
	ctx := context.Background()
	if _, err := st.CreateDeployment(ctx, &store.Deployment{Name: "web-1", ProductID: pid, VersionID: vid,
		Operations: []store.Operation{{ID: "op-1", Type: store.OpLaunch, Status: store.OpInProgress, ToVersionID: vid, StartedAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents(ctx, "web-1", store.Event{OperationID: "op-1", Time: time.Now(), Type: string(deploy.EventOperationStarted)}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h.srv)
	defer ts.Close()

	armed.Store(true)
	res := stream(t, ctx, ts.URL+"/api/deployments/web-1/events")
	body := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(res.Body)
		body <- string(b)
	}()
	select {
	case b := <-body:
		if err := <-endErr; err != nil {
			t.Fatalf("ending the operation: %v", err)
		}
		if got := types(readEvents(t, strings.NewReader(b))); !slices.Equal(got, []string{string(deploy.EventOperationStarted)}) {
			t.Errorf("events %q, want the operation's one", got)
		}
	case <-time.After(waitfor.Generous):
		t.Fatal("the stream of an operation that ended stays open")
	}
}
