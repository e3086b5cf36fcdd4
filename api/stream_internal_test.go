package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/store/memory"
)

// stuckWriter is a response whose writes block, as on a connection whose
// client does not read, until its write deadline passes.
type stuckWriter struct {
	header http.Header
	mu     sync.Mutex
	dl     time.Time
	change chan struct{}
}

func newStuckWriter() *stuckWriter {
	return &stuckWriter{header: http.Header{}, change: make(chan struct{}, 1)}
}

func (w *stuckWriter) Header() http.Header { return w.header }
func (w *stuckWriter) WriteHeader(int)     {}
func (w *stuckWriter) Flush()              {}

func (w *stuckWriter) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	w.dl = t
	w.mu.Unlock()
	select {
	case w.change <- struct{}{}:
	default:
	}
	return nil
}

func (w *stuckWriter) SetReadDeadline(time.Time) error { return nil }

func (w *stuckWriter) Write([]byte) (int, error) {
	for {
		w.mu.Lock()
		dl := w.dl
		w.mu.Unlock()
		if !dl.IsZero() && !time.Now().Before(dl) {
			return 0, os.ErrDeadlineExceeded
		}
		var wait <-chan time.Time
		if !dl.IsZero() {
			t := time.NewTimer(time.Until(dl))
			defer t.Stop()
			wait = t.C
		}
		select {
		case <-wait:
		case <-w.change:
		}
	}
}

func streamCall(s *Server, w http.ResponseWriter, principal string) *call {
	return &call{s: s, w: &responseWriter{ResponseWriter: w}, r: httptest.NewRequest("GET", "/", nil),
		id: "req-1", principal: &auth.Principal{Name: principal}}
}

// A client that does not read is dropped after the write timeout.
func TestStreamWriteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(memory.New(nil), nil, &Options{StreamWriteTimeout: 7 * time.Second})
		st, err := streamCall(s, newStuckWriter(), "a").openStream()
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		start := time.Now()
		_, err = st.Write([]byte("data: x\n\n"))
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 7*time.Second {
			t.Fatalf("err %v after %s, want a deadline error after 7s", err, time.Since(start))
		}
	})
}

// CloseStreams ends a write blocked on a client that does not read, at
// once, and refuses new streams.
func TestCloseStreamsEndsBlockedWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(memory.New(nil), nil, &Options{StreamWriteTimeout: -1})
		st, err := streamCall(s, newStuckWriter(), "a").openStream()
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		done := make(chan error)
		go func() {
			_, err := st.Write([]byte("x"))
			done <- err
		}()
		synctest.Wait()
		start := time.Now()
		s.CloseStreams()
		if err := <-done; err == nil || time.Since(start) != 0 {
			t.Fatalf("write ended with %v after %s", err, time.Since(start))
		}
		if _, err := st.Write([]byte("x")); !errors.Is(err, errStreamClosed) {
			t.Fatalf("a write after closing: %v", err)
		}
		if _, err := streamCall(s, newStuckWriter(), "a").openStream(); toError(err).Status != http.StatusServiceUnavailable {
			t.Fatalf("a new stream: %v", err)
		}
	})
}

// Streams beyond the caps answer 429; closed ones give their place back.
func TestStreamCaps(t *testing.T) {
	s := New(memory.New(nil), nil, &Options{MaxStreams: 3, MaxStreamsPerPrincipal: 2})
	open := func(p string) (*stream, error) { return streamCall(s, httptest.NewRecorder(), p).openStream() }
	a1, _ := open("a")
	a2, err := open("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open("a"); toError(err).Status != http.StatusTooManyRequests {
		t.Fatalf("third stream of a: %v", err)
	}
	if _, err := open("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := open("c"); toError(err).Status != http.StatusTooManyRequests {
		t.Fatalf("fourth stream: %v", err)
	}
	a1.Close()
	a1.Close() // twice is harmless
	if _, err := open("c"); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	if s.Streams() != 3 {
		t.Fatalf("%d streams", s.Streams())
	}
	a2.Close()
}
