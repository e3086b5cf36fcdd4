//go:build linux

package api_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/waitfor"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
)

// silentStreams opens n event streams of an operation with many events
// over real connections whose clients never read, and waits until every
// handler is stuck in a write.
func silentStreams(t *testing.T, opts api.Options, n int) (*harness, *httptest.Server, []net.Conn) {
	t.Helper()
	h := newHarness(t, &harnessOptions{api: opts})
	ctx := context.Background()
	var deps stack.Deps
	for tier := range 10 {
		var tr stack.Tier
		for i := range 30 {
			tr = append(tr, stack.Stack{Name: fmt.Sprintf("s%d-%d", tier, i), Services: []stack.Service{{Name: "nginx", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1.27"}}}})
		}
		deps = append(deps, tr)
	}
	if _, err := h.st.CreateProduct(ctx, &product.Product{ID: "prod-big", Name: "big", ProviderName: "tests"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.CreateVersion(ctx, &product.Version{ID: "pv-big", ProductID: "prod-big", Name: "v1", Active: true, StackDeps: deps}); err != nil {
		t.Fatal(err)
	}
	res, err := h.ex.Launch(ctx, deploy.Request{Deployment: "big", VersionID: "pv-big"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h.srv)
	ts.Listener = smallSendBuffers{ts.Listener}
	ts.Config.RegisterOnShutdown(h.srv.CloseStreams)
	ts.Start()
	var conns []net.Conn
	for range n {
		// A small receive buffer before connecting: a small window.
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
		}}
		c, err := d.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET /api/deployments/big/events?operation_id=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", res.Operation.ID)
		conns = append(conns, c)
	}
	// The operation has ended: a stream that could write everything
	// would end at once; these stay, stuck in a write (or are dropped
	// after the write timeout).
	if !waitfor.True(waitfor.Generous, 10*time.Millisecond, func() bool { return h.srv.Streams() >= n }) {
		t.Fatalf("%d of %d streams open", h.srv.Streams(), n)
	}
	return h, ts, conns
}

// smallSendBuffers gives accepted connections a small send buffer, so
// that a client that does not read soon blocks the server's writes.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// Shutdown ends streams stuck in writes to clients that do not read at
// once, well within its grace period.
func TestShutdownEndsStuckStreams(t *testing.T) {
	h, ts, conns := silentStreams(t, api.Options{StreamWriteTimeout: -1}, 20)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	if err := ts.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v after %s", err, time.Since(start))
	}
	t.Logf("shutdown with 20 stuck streams: %s", time.Since(start))
	ts.Close()
	if n := h.srv.Streams(); n != 0 {
		t.Fatalf("%d streams left", n)
	}
	// Every stream was stuck, not merely slow to end: the server closed
	// each one, and no client got the whole stream, which ends with the
	// operation's last event (the operation ended before they opened).
	if n := strings.Count(h.log.String(), "stream closed by the server"); n != 20 {
		t.Errorf("the server closed %d of 20 streams (too few events to fill the buffers?); log:\n%s", n, h.log)
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if strings.Contains(string(b), string(deploy.EventOperationDone)) {
			t.Errorf("stream %d got the whole operation (%d bytes): it was not stuck", i, len(b))
		}
	}
}

// A client that does not read is dropped after the write timeout.
func TestSilentClientDropped(t *testing.T) {
	h, ts, conns := silentStreams(t, api.Options{StreamWriteTimeout: 300 * time.Millisecond}, 3)
	// Not reading, the clients see their streams end.
	if !waitfor.True(waitfor.Generous, 10*time.Millisecond, func() bool { return h.srv.Streams() == 0 }) {
		t.Fatalf("%d streams still open", h.srv.Streams())
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("the server did not drop the stream: %v", err)
		}
	}
	ts.Close()
	if !strings.Contains(h.log.String(), "client dropped") {
		t.Errorf("no client was dropped:\n%s", h.log)
	}
}
