package storetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
)

// ProcessHarness opens one database from several OS processes.
type ProcessHarness struct {
	// NewDatabase returns the data source of a new, empty database. It
	// runs in the test's own process only.
	NewDatabase func(t *testing.T) string
	// Open opens a store on a data source, in the test's process and in
	// the child processes.
	Open func(ctx context.Context, dataSource string) (*store.Store, error)
	// Check, when set, inspects the database after a child was killed in
	// the middle of its writes (an integrity check, orphan rows).
	Check func(t *testing.T, dataSource string)
}

// Environment variables that make the test binary a child process.
const (
	envChild  = "STACKWAVE_STORETEST_CHILD"
	envSource = "STACKWAVE_STORETEST_SOURCE"
)

// Child modes.
const (
	childCreate   = "create"
	childBurst    = "burst"
	childRegister = "register"
)

// Processes is how many processes create the same product at once.
const Processes = 4

// RunProcesses shows that the store keeps its promises between OS
// processes sharing one database:
//
//   - Processes processes creating the same product name at once: exactly
//     one succeeds, the others get ErrAlreadyExists, one row is stored;
//   - a process killed with SIGKILL in the middle of a burst of writes:
//     every write it acknowledged is there, and no record is half written:
//     an update made with its events (WithEvents) has both or neither;
//   - a process killed in the middle of a burst of registrations
//     (Store.Register): every acknowledged one is there, and no product
//     is left without a version.
//
// The child processes are the test binary run again with -test.run
// selecting the calling test, so RunProcesses must be called from a
// top-level test function that does nothing before it: in a child process
// it does the child's part and returns.
func RunProcesses(t *testing.T, h ProcessHarness) {
	if mode := os.Getenv(envChild); mode != "" {
		runChild(t, h, mode, os.Getenv(envSource))
		return
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatal("RunProcesses must be called from a top-level test")
	}
	t.Run("CreateSameName", func(t *testing.T) { testProcessesCreate(t, h) })
	t.Run("KilledMidBurst", func(t *testing.T) { testProcessesKilled(t, h) })
	t.Run("KilledMidRegister", func(t *testing.T) { testProcessesKilledRegister(t, h) })
}

// killAfter starts a child in mode and kills it with SIGKILL once it has
// acknowledged n writes; it returns every acknowledgement, also those
// made while the kill was on its way.
func killAfter(t *testing.T, mode, source string, n int) []string {
	t.Helper()
	cmd, stdin, stdout := child(t, mode, source)
	defer stdin.Close()
	out := lines(stdout)
	var acks []string
	timeout := time.After(2 * time.Minute)
	for len(acks) < n {
		select {
		case line, ok := <-out:
			if !ok {
				t.Fatalf("the child exited after %d acknowledged writes: %v", len(acks), cmd.Wait())
			}
			if line != "ready" {
				acks = append(acks, line)
			}
		case <-timeout:
			t.Fatalf("the child acknowledged only %d writes in 2 minutes", len(acks))
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for line := range out {
		acks = append(acks, line)
	}
	return acks
}

func testProcessesKilledRegister(t *testing.T, h ProcessHarness) {
	ctx := t.Context()
	source := h.NewDatabase(t)
	acks := killAfter(t, childRegister, source, burstAcks)
	s, err := h.Open(ctx, source)
	if err != nil {
		t.Fatalf("reopening after the kill: %v", err)
	}
	defer s.Close()
	for _, ack := range acks {
		f := strings.Fields(ack)
		if len(f) != 3 || f[0] != "registered" {
			t.Fatalf("bad acknowledgement %q", ack)
		}
		if v, err := s.GetVersion(ctx, f[2]); err != nil || v.ProductID != f[1] {
			t.Errorf("acknowledged registration %s %s: %+v, %v", f[1], f[2], v, err)
		}
	}
	products := 0
	for page := 1; ; page++ {
		res, err := s.ListProducts(ctx, store.ProductQuery{Page: page, PageSize: store.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Items {
			products++
			vs, err := s.ListVersions(ctx, p.ID, store.VersionQuery{})
			if err != nil || len(vs) == 0 {
				t.Errorf("product %s (%s) has no version (%v)", p.Name, p.ID, err)
			}
		}
		if len(res.Items) < store.MaxPageSize {
			break
		}
	}
	if products < len(acks) {
		t.Errorf("%d products stored, %d registrations acknowledged", products, len(acks))
	}
	t.Logf("%d registrations acknowledged before the kill, %d products stored, none without a version", len(acks), products)
}

// child starts the test binary as a child process in mode.
func child(t *testing.T, mode, source string) (*exec.Cmd, io.WriteCloser, io.ReadCloser) {
	t.Helper()
	top, _, _ := strings.Cut(t.Name(), "/")
	cmd := exec.Command(os.Args[0], "-test.run=^"+top+"$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), envChild+"="+mode, envSource+"="+source)
	cmd.Stderr = &prefixWriter{t: t, prefix: mode + " child: "}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, stdin, stdout
}

// prefixWriter logs a child's stderr.
type prefixWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for line := range strings.Lines(string(p)) {
		w.t.Log(w.prefix + strings.TrimRight(line, "\n"))
	}
	return len(p), nil
}

// lines sends the lines a child prints that start with prefix; the
// channel closes when the child's stdout does.
//
// Only whole lines count: a child killed while writing an acknowledgement
// leaves a partial line, which acknowledges nothing.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		br := bufio.NewReader(r)
		for {
			raw, err := br.ReadString('\n')
			if err != nil {
				return // EOF: a last line without its newline was cut off
			}
			if line, ok := strings.CutPrefix(strings.TrimSuffix(raw, "\n"), "STORETEST "); ok {
				ch <- line
			}
		}
	}()
	return ch
}

func testProcessesCreate(t *testing.T, h ProcessHarness) {
	source := h.NewDatabase(t)
	type proc struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   <-chan string
	}
	procs := make([]proc, Processes)
	for i := range procs {
		cmd, stdin, stdout := child(t, childCreate, source)
		procs[i] = proc{cmd, stdin, lines(stdout)}
	}
	timeout := time.After(2 * time.Minute)
	next := func(p proc) string {
		select {
		case line, ok := <-p.out:
			if !ok {
				return "exited"
			}
			return line
		case <-timeout:
			return "timed out"
		}
	}
	// Wait until every child has opened the store, then let them all go.
	for i, p := range procs {
		if line := next(p); line != "ready" {
			t.Fatalf("child %d: %s, want ready", i, line)
		}
	}
	for _, p := range procs {
		p.stdin.Close()
	}
	created := 0
	for i, p := range procs {
		switch line := next(p); line {
		case "created":
			created++
		case "exists":
		default:
			t.Errorf("child %d: %s, want created or exists", i, line)
		}
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("child %d: %v", i, err)
		}
	}
	if created != 1 {
		t.Errorf("%d processes created the product, want exactly 1", created)
	}
	s, err := h.Open(t.Context(), source)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page, err := s.ListProducts(t.Context(), store.ProductQuery{PageSize: store.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 || len(page.Items) != 1 || page.Items[0].Name != "contended" {
		t.Errorf("stored products: %d (total %d), want the one called contended", len(page.Items), page.Total)
	}
}

// burstAcks is how many writes the killed child acknowledges before it is
// killed.
const burstAcks = 120

func testProcessesKilled(t *testing.T, h ProcessHarness) {
	ctx := t.Context()
	source := h.NewDatabase(t)
	cmd, stdin, stdout := child(t, childBurst, source)
	defer stdin.Close()
	out := lines(stdout)
	var acks []string
	timeout := time.After(2 * time.Minute)
	for len(acks) < burstAcks {
		select {
		case line, ok := <-out:
			if !ok {
				t.Fatalf("the child exited after %d acknowledged writes: %v", len(acks), cmd.Wait())
			}
			if line != "ready" {
				acks = append(acks, line)
			}
		case <-timeout:
			t.Fatalf("the child acknowledged only %d writes in 2 minutes", len(acks))
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for line := range out { // writes acknowledged while the kill was on its way
		acks = append(acks, line)
	}

	s, err := h.Open(ctx, source)
	if err != nil {
		t.Fatalf("reopening after the kill: %v", err)
	}
	defer s.Close()

	// Every acknowledged write is there.
	for _, ack := range acks {
		f := strings.Fields(ack)
		if len(f) < 2 {
			t.Fatalf("bad acknowledgement %q", ack)
		}
		switch f[0] {
		case "product":
			if _, err := s.GetProduct(ctx, f[1]); err != nil {
				t.Errorf("acknowledged product %s: %v", f[1], err)
			}
		case "version":
			if _, err := s.GetVersion(ctx, f[1]); err != nil {
				t.Errorf("acknowledged version %s: %v", f[1], err)
			}
		case "deployment", "update", "ended":
			d, err := s.GetDeployment(ctx, f[1])
			if err != nil {
				t.Errorf("acknowledged deployment %s: %v", f[1], err)
				continue
			}
			if want, _ := strconv.ParseInt(f[2], 10, 64); d.Revision < want {
				t.Errorf("deployment %s at revision %d, but revision %d was acknowledged", f[1], d.Revision, want)
			}
		case "events":
			evs, err := s.ListEvents(ctx, f[1], store.EventQuery{})
			if want, _ := strconv.Atoi(f[2]); err != nil || len(evs) < want {
				t.Errorf("deployment %s: %d events (%v), but %d were acknowledged", f[1], len(evs), err, want)
			}
		default:
			t.Fatalf("bad acknowledgement %q", ack)
		}
	}

	// Nothing is half written: every record reads back whole, and
	// every batch of events is there entirely or not at all.
	for page := 1; ; page++ {
		res, err := s.ListProducts(ctx, store.ProductQuery{Page: page, PageSize: store.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Items {
			if _, err := s.ListVersions(ctx, p.ID, store.VersionQuery{}); err != nil {
				t.Errorf("versions of %s: %v", p.ID, err)
			}
		}
		if len(res.Items) < store.MaxPageSize {
			break
		}
	}
	deployments, err := s.ListDeployments(ctx, store.DeploymentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deployments {
		if len(d.Parameters) == 0 || len(d.Stacks) == 0 || len(d.Operations) == 0 {
			t.Errorf("deployment %s is missing fields: %+v", d.Name, d)
		}
		if _, err := s.GetVersion(ctx, d.VersionID); err != nil {
			t.Errorf("version of deployment %s: %v", d.Name, err)
		}
		evs, err := s.ListEvents(ctx, d.Name, store.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs)%burstEvents != 0 {
			t.Errorf("deployment %s has %d events, not whole batches of %d", d.Name, len(evs), burstEvents)
		}
		// An operation ended with its events (UpdateDeployment with
		// WithEvents) has both or neither.
		ended, logged := d.Operation("op-2") != nil, slices.ContainsFunc(evs, func(e store.Event) bool { return e.OperationID == "op-2" })
		if ended != logged {
			t.Errorf("deployment %s: op-2 in the record: %t, its events in the log: %t; want both or neither", d.Name, ended, logged)
		}
		for i, e := range evs {
			if e.Seq != int64(i)+1 {
				t.Errorf("deployment %s: event %d has Seq %d", d.Name, i, e.Seq)
				break
			}
		}
	}
	if len(deployments) == 0 {
		t.Error("no deployment survived; the burst acknowledged some")
	}
	if h.Check != nil {
		h.Check(t, source)
	}
}

// burstEvents is how many events the burst appends at once.
const burstEvents = 3

// runChild is the child's part: it prints "STORETEST <line>" for each
// step, and reports problems on stderr.
func runChild(t *testing.T, h ProcessHarness, mode, source string) {
	ctx := context.Background()
	say := func(format string, args ...any) {
		fmt.Fprintf(os.Stdout, "STORETEST "+format+"\n", args...)
	}
	s, err := h.Open(ctx, source)
	if err != nil {
		say("error open: %v", err)
		t.Fatal(err)
	}
	defer s.Close()
	say("ready")
	switch mode {
	case childCreate:
		io.Copy(io.Discard, os.Stdin) // the parent closes stdin to start us
		_, err := s.CreateProduct(ctx, newProduct("contended"))
		switch {
		case err == nil:
			say("created")
		case errors.Is(err, store.ErrAlreadyExists):
			say("exists")
		default:
			say("error %v", err)
		}
	case childBurst:
		deadline := time.Now().Add(2 * time.Minute)
		for i := 0; time.Now().Before(deadline); i++ {
			if err := burstStep(ctx, s, i, say); err != nil {
				say("error %v", err)
				t.Fatal(err)
			}
		}
	case childRegister:
		deadline := time.Now().Add(2 * time.Minute)
		for i := 0; time.Now().Before(deadline); i++ {
			reg, err := s.Register(ctx, newDocument(fmt.Sprintf("registered-%d", i), strconv.Itoa(i)), nil)
			if err != nil {
				say("error %v", err)
				t.Fatal(err)
			}
			say("registered %s %s", reg.Product.ID, reg.Version.ID)
		}
	default:
		t.Fatalf("unknown child mode %q", mode)
	}
}

// burstStep writes one product, its version, a deployment of it, a batch
// of events and an update, acknowledging each.
func burstStep(ctx context.Context, s *store.Store, i int, say func(string, ...any)) error {
	p, err := s.CreateProduct(ctx, newProduct(fmt.Sprintf("burst-%d", i)))
	if err != nil {
		return err
	}
	say("product %s", p.ID)
	v, err := s.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "1", StackDeps: Spec(strconv.Itoa(i))})
	if err != nil {
		return err
	}
	say("version %s", v.ID)
	d, err := s.CreateDeployment(ctx, newDeployment(fmt.Sprintf("burst-%d", i), v))
	if err != nil {
		return err
	}
	say("deployment %s %d", d.Name, d.Revision)
	if err := s.AppendEvents(ctx, d.Name, events("op-1", burstEvents, time.Now())...); err != nil {
		return err
	}
	say("events %s %d", d.Name, burstEvents)
	d.Status = store.StatusAvailable
	d.Operations[0].Status = store.OpSucceeded
	if d, err = s.UpdateDeployment(ctx, d); err != nil {
		return err
	}
	say("update %s %d", d.Name, d.Revision)
	// The next operation ends with its events, in one write.
	d.Operations = append(d.Operations, store.Operation{ID: "op-2", Type: store.OpRestart, Status: store.OpSucceeded, Stack: "web", StartedAt: time.Now().UTC()})
	if d, err = s.UpdateDeployment(ctx, d, store.WithEvents(events("op-2", burstEvents, time.Now())...)); err != nil {
		return err
	}
	say("ended %s %d", d.Name, d.Revision)
	return nil
}
