package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/internal/dockertest"
	"github.com/stackwave/stackwave/internal/pgtest"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/postgres"
	"github.com/stackwave/stackwave/store/storeurl"
)

// sseSeqs follows an operation's event stream and sends the sequence
// numbers and types it sees; the channel closes when the stream ends.
func sseSeqs(t *testing.T, ctx context.Context, url, name, opID string) <-chan [2]string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/deployments/"+name+"/events?operation_id="+opID, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("events: %s", res.Status)
	}
	ch := make(chan [2]string, 1024)
	go func() {
		defer close(ch)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		id := ""
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id = v
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var e struct {
					Type string `json:"type"`
				}
				_ = json.Unmarshal([]byte(data), &e)
				ch <- [2]string{id, e.Type}
			}
		}
	}()
	return ch
}

// TestReplicasOnPostgres runs two `stackwave serve` processes on one
// PostgreSQL database and the Docker engine. Replica A runs a three-tier
// launch; a client follows its events on replica B; A is killed with
// SIGKILL in the middle of tier 1. B takes the operation over once A's
// lease expires and finishes it: one container per instance, one
// operation, Succeeded, an event log numbered 1, 2, 3... without a gap or
// a repeat, all of which the client on B saw.
func TestReplicasOnPostgres(t *testing.T) {
	cli := dockertest.Client(t)
	name := uniqueName("replicas")
	cleanupDeployment(t, cli, name)
	db := pgtest.NewDatabase(t)
	a := startServerStore(t, db, freeAddr(t))
	b := startServerStore(t, db, freeAddr(t))

	opID := a.launchE2E(name, "4s")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	seen := sseSeqs(t, ctx, b.url, name, opID)

	// Kill A once tier 1 is being applied (its services take 4s to
	// become ready), as B shows it.
	tier1Applying(t, b.url, name, opID)
	a.kill()

	// B's client sees the operation to its end.
	var seqs []int64
	var last string
	for ev := range seen {
		n, err := strconv.ParseInt(ev[0], 10, 64)
		if err != nil {
			t.Fatalf("event id %q", ev[0])
		}
		seqs = append(seqs, n)
		last = ev[1]
	}
	if ctx.Err() != nil {
		t.Fatalf("the stream on B did not end: %d events, the last %s\nA:\n%s\nB:\n%s", len(seqs), last, a.output(), b.output())
	}
	st := b.status(name)
	if st.Status != "Available" || st.LastOperation.ID != opID || st.LastOperation.Status != "Succeeded" || last != "operation-done" {
		t.Fatalf("after the takeover: %+v, last event %s\nB:\n%s", st, last, b.output())
	}
	st2, err := postgres.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	rec, err := st2.GetDeployment(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Operations); n != 1 || rec.Operations[0].Status != store.OpSucceeded {
		t.Errorf("operations recorded: %+v, want the one launch, Succeeded", rec.Operations)
	}
	if _, err := st2.GetLease(ctx, name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lease after the launch: %v, want none", err)
	}

	// One container per service, none twice.
	cs := containers(t, cli, name)
	dup := map[string]bool{}
	for _, c := range cs {
		if dup[c] {
			t.Errorf("container %s twice", c)
		}
		dup[c] = true
	}
	if len(cs) != 3 {
		t.Errorf("containers %v, want one per service (3)", cs)
	}

	// The log is 1, 2, 3... and the client on B saw every event, once.
	all := sseSeqs(t, ctx, b.url, name, opID)
	var logged []int64
	for ev := range all {
		n, _ := strconv.ParseInt(ev[0], 10, 64)
		logged = append(logged, n)
	}
	for i, n := range logged {
		if n != int64(i)+1 {
			t.Fatalf("event log %v: not 1, 2, 3... at %d", logged, i)
		}
	}
	if len(seqs) != len(logged) {
		t.Fatalf("the client on B saw %d events, the log has %d: %v", len(seqs), len(logged), seqs)
	}
	for i := range seqs {
		if seqs[i] != logged[i] {
			t.Fatalf("the client on B saw %v, the log is %v", seqs, logged)
		}
	}
	t.Logf("B took over and finished; %d events, all seen on B", len(seqs))
}

// TestServeKilledMidCreates kills `stackwave serve` with SIGKILL in the
// middle of a burst of product creates, on SQLite and on PostgreSQL, and
// restarts it: every create it acknowledged is there, and no product is
// without a version.
func TestServeKilledMidCreates(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			storeURL := "sqlite:" + filepath.Join(t.TempDir(), "sw.db")
			if backend == "postgres" {
				storeURL = pgtest.NewDatabase(t)
			}
			addr := freeAddr(t)
			s := startServerStore(t, storeURL, addr)
			type ack struct{ product, version string }
			acks := make(chan ack, 10000)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := range 4 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						doc := fmt.Sprintf(`{"product_name": "burst-%d-%d", "stack_deps": [[{"stack_name": "web", "services": [
  {"service_name": "app", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.%d"}}]}]]}`, w, i, i)
						res, err := http.Post(s.url+"/api/products", "application/json", strings.NewReader(doc))
						if err != nil {
							return // the server is gone
						}
						var out struct {
							ProductID string `json:"product_id"`
							VersionID string `json:"product_version_id"`
						}
						err = json.NewDecoder(res.Body).Decode(&out)
						res.Body.Close()
						if err == nil && res.StatusCode == 200 {
							acks <- ack{out.ProductID, out.VersionID}
						}
					}
				})
			}
			var got []ack
			for len(got) < 200 {
				got = append(got, <-acks)
			}
			s.kill()
			close(stop)
			wg.Wait()
			close(acks)
			for a := range acks { // acknowledged while the kill was on its way
				got = append(got, a)
			}

			ctx := t.Context()
			st, err := storeurl.Open(ctx, storeURL)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			n := len(got)
			for _, a := range got {
				if v, err := st.GetVersion(ctx, a.version); err != nil || v.ProductID != a.product {
					t.Errorf("acknowledged create %s %s: %+v, %v", a.product, a.version, v, err)
				}
			}
			total := 0
			for page := 1; ; page++ {
				res, err := st.ListProducts(ctx, store.ProductQuery{Page: page, PageSize: store.MaxPageSize})
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range res.Items {
					total++
					if vs, err := st.ListVersions(ctx, p.ID, store.VersionQuery{}); err != nil || len(vs) == 0 {
						t.Errorf("product %s has no version (%v)", p.Name, err)
					}
				}
				if len(res.Items) < store.MaxPageSize {
					break
				}
			}
			t.Logf("%d creates acknowledged before the kill, %d products stored, none without a version", n, total)
		})
	}
}
