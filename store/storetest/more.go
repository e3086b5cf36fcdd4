package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
)

func newDocument(name, tag string) *product.Document {
	return &product.Document{Name: name, ProviderName: "Acme", Description: "registered", StackDeps: Spec(tag)}
}

func testRegister(t *testing.T, s *store.Store) {
	ctx := t.Context()
	reg, err := s.Register(ctx, newDocument("reg", "1"), &store.RegisterOptions{VersionName: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if !reg.Created || reg.Product.Name != "reg" || reg.Version.ProductID != reg.Product.ID || reg.Version.Name != "first" ||
		reg.Version.ContentHash != product.Hash(Spec("1")) || !reg.Version.Active {
		t.Fatalf("registration %+v %+v", reg.Product, reg.Version)
	}
	got, err := s.GetVersion(ctx, reg.Version.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "stored version", reg.Version, got)

	// The same document again answers the same records.
	again, err := s.Register(ctx, newDocument("reg", "1"), nil)
	if err != nil || again.Created || again.Product.ID != reg.Product.ID || again.Version.ID != reg.Version.ID {
		t.Errorf("the same document again: %+v, %v", again, err)
	}
	// Another document under the name is a duplicate, and changes nothing.
	_, err = s.Register(ctx, newDocument("reg", "2"), nil)
	wantErr(t, "another document under the name", err, store.ErrAlreadyExists)
	if vs, err := s.ListVersions(ctx, reg.Product.ID, store.VersionQuery{}); err != nil || len(vs) != 1 {
		t.Errorf("versions after the duplicate: %d, %v", len(vs), err)
	}
	// A version that cannot be written leaves no product behind.
	doc := newDocument("no-template", "")
	doc.StackDeps, doc.TemplateURL = nil, store.TemplateURLPrefix+"tpl-missing"
	_, err = s.Register(ctx, doc, nil)
	wantErr(t, "a missing template", err, store.ErrNotFound)
	bad := newDocument("bad-spec", "")
	_, err = s.Register(ctx, bad, nil)
	wantInvalid(t, "a spec without an image tag", err, "")
	for _, name := range []string{"no-template", "bad-spec"} {
		if _, err := s.GetProduct(ctx, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("product %s of a failed registration: %v, want ErrNotFound", name, err)
		}
	}
	// From a template.
	tpl, err := s.CreateTemplate(ctx, &store.Template{StackDeps: Spec("t")})
	if err != nil {
		t.Fatal(err)
	}
	doc = &product.Document{Name: "from-template", TemplateURL: tpl.URL}
	reg, err = s.Register(ctx, doc, &store.RegisterOptions{ProviderName: "Acme"})
	doc.ProviderName = "Acme"
	if err != nil || reg.Version.ContentHash != tpl.ContentHash || reg.Product.ProviderName != "Acme" {
		t.Fatalf("from a template: %+v, %v", reg, err)
	}
	if again, err := s.Register(ctx, doc, nil); err != nil || again.Created || again.Version.ID != reg.Version.ID {
		t.Errorf("a template's document again: %+v, %v", again, err)
	}
}

// testRegisterConcurrent registers one document from many goroutines:
// one registration is made and every call answers it.
func testRegisterConcurrent(t *testing.T, s *store.Store) {
	const n = 16
	var wg sync.WaitGroup
	regs := make([]*store.Registration, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { regs[i], errs[i] = s.Register(t.Context(), newDocument("contended", "1"), nil) })
	}
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("register %d: %v", i, errs[i])
		}
		if regs[i].Created {
			created++
		}
		if regs[i].Version.ID != regs[0].Version.ID {
			t.Errorf("register %d answered version %s, register 0 %s", i, regs[i].Version.ID, regs[0].Version.ID)
		}
	}
	if created != 1 {
		t.Errorf("%d registrations created the product, want 1", created)
	}
}

func testSubscribeEvents(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, _, d := setup(t, s, "subscribed")
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.AppendEvents(ctx, d.Name, events("op-1", 3, start)...); err != nil {
		t.Fatal(err)
	}
	sub, err := s.SubscribeEvents(ctx, d.Name, store.EventQuery{AfterSeq: 1, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// What was there after the starting point comes first.
	evs, err := sub.Next(ctx)
	if err != nil || len(evs) != 2 || evs[0].Seq != 2 || evs[1].Seq != 3 {
		t.Fatalf("first batch %+v, %v; want events 2 and 3", evs, err)
	}
	// Then each append wakes the subscriber, whose next batch is what
	// was appended, once.
	const appends = 20
	errc := make(chan error, 1)
	go func() {
		for i := range appends {
			if err := s.AppendEvents(context.Background(), d.Name, events("op-1", 1, start.Add(time.Duration(i)*time.Second))...); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	want := int64(4)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for want <= 3+appends {
		evs, err := sub.Next(wctx)
		if err != nil {
			t.Fatalf("waiting for event %d: %v", want, err)
		}
		for _, e := range evs {
			if e.Seq != want {
				t.Fatalf("event %d delivered, want %d", e.Seq, want)
			}
			want++
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if sub.AfterSeq() != 3+appends {
		t.Errorf("AfterSeq %d, want %d", sub.AfterSeq(), 3+appends)
	}
	// A change of the record wakes it too.
	w := s.SubscribeDeployment(d.Name)
	defer w.Close()
	drain(w)
	d.Status = store.StatusAvailable
	if _, err := s.UpdateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Changed():
	case <-wctx.Done():
		t.Fatal("an update of the record woke no one")
	}
	// So does a released lease.
	rel := s.SubscribeReleases()
	defer rel.Close()
	drain(rel)
	if _, err := s.AcquireLease(ctx, d.Name, "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseLease(ctx, d.Name, "a"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rel.Changed():
	case <-wctx.Done():
		t.Fatal("a released lease woke no one")
	}
	// A bad query is refused.
	_, err = s.SubscribeEvents(ctx, d.Name, store.EventQuery{AfterSeq: -1})
	wantInvalid(t, "a negative AfterSeq", err, "after_seq")
	// Next gives up with its context.
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := sub.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled context: %v", err)
	}
}

// drain empties a watch's channel of what earlier changes left.
func drain(w *store.Watch) {
	for {
		select {
		case <-w.Changed():
		default:
			return
		}
	}
}

func keyring(t *testing.T, seeds ...byte) *store.Keyring {
	t.Helper()
	var keys [][]byte
	for _, s := range seeds {
		k := make([]byte, store.KeySize)
		for i := range k {
			k[i] = s + byte(i)
		}
		keys = append(keys, k)
	}
	k, err := store.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testSealed writes through a store with a keyring over the suite's
// driver, and checks that the driver holds no secret in clear, that the
// store opens them, and that a rotation re-seals them.
func testSealed(t *testing.T, plain *store.Store) {
	ctx := t.Context()
	k1 := keyring(t, 1)
	s := store.New(plain.Driver(), &store.Options{Keys: k1})
	const secret = "hunter2-very-secret"
	deps := Spec("sealed")
	deps[0][0].Services[0].Envs = []string{"PASSWORD=" + secret, "EMPTY=", "MODE=test"}
	reg, err := s.Register(ctx, &product.Document{Name: "sealed", ProviderName: "Acme", StackDeps: deps}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := s.CreateTemplate(ctx, &store.Template{StackDeps: deps})
	if err != nil {
		t.Fatal(err)
	}
	dep := newDeployment("sealed", reg.Version)
	dep.Parameters = map[string]string{store.VarParamPrefix + "token": secret, "scale/web/app": "2"}
	d, err := s.CreateDeployment(ctx, dep)
	if err != nil {
		t.Fatal(err)
	}
	if d.Parameters[store.VarParamPrefix+"token"] != secret || reg.Version.ContentHash != product.Hash(deps) {
		t.Errorf("the store answered %v, hash %s", d.Parameters, reg.Version.ContentHash)
	}
	// The store reads them back in clear.
	v, err := s.GetVersion(ctx, reg.Version.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "sealed version read back", reg.Version, v)
	if got, err := s.GetTemplate(ctx, tpl.ID); err != nil || got.StackDeps[0][0].Services[0].Envs[0] != "PASSWORD="+secret {
		t.Errorf("template read back: %+v, %v", got, err)
	}
	if got, err := s.GetDeployment(ctx, d.Name); err != nil || got.Parameters[store.VarParamPrefix+"token"] != secret {
		t.Errorf("deployment read back: %+v, %v", got, err)
	}
	// The driver holds them sealed.
	raw := func() (*product.Version, *store.Template, *store.Deployment) {
		rv, err := plain.Driver().Version(ctx, reg.Version.ID)
		if err != nil {
			t.Fatal(err)
		}
		rt, err := plain.Driver().Template(ctx, tpl.ID)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := plain.Driver().Deployment(ctx, d.Name)
		if err != nil {
			t.Fatal(err)
		}
		return rv, rt, rd
	}
	rv, rtpl, rd := raw()
	for what, v := range map[string]string{
		"version env":     rv.StackDeps[0][0].Services[0].Envs[0],
		"template env":    rtpl.StackDeps[0][0].Services[0].Envs[0],
		"launch variable": rd.Parameters[store.VarParamPrefix+"token"],
	} {
		if strings.Contains(v, secret) || !strings.Contains(v, "sealed:v1:"+k1.KeyID()+":") {
			t.Errorf("%s stored as %q, want it sealed with key %s", what, v, k1.KeyID())
		}
	}
	if rv.StackDeps[0][0].Services[0].Envs[1] != "EMPTY=" || rv.StackDeps[0][0].Services[0].Envs[2] == "MODE=test" ||
		rd.Parameters["scale/web/app"] != "2" {
		t.Errorf("stored envs %v and parameters %v: want empty values and other parameters kept, every env value sealed", rv.StackDeps[0][0].Services[0].Envs, rd.Parameters)
	}
	// A store without the key cannot read them, and says why.
	if _, err := plain.GetVersion(ctx, reg.Version.ID); err == nil || !strings.Contains(err.Error(), k1.KeyID()) {
		t.Errorf("reading a sealed version without the key: %v", err)
	}
	// Rotation: a new key first, the old one after it; Reseal moves
	// every value to the new key, after which the old key can go.
	k2 := keyring(t, 2, 1)
	rotated := store.New(plain.Driver(), &store.Options{Keys: k2})
	n, err := rotated.Reseal(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Reseal: %d records, %v; want 3", n, err)
	}
	rv, rtpl, rd = raw()
	for _, v := range []string{rv.StackDeps[0][0].Services[0].Envs[0], rtpl.StackDeps[0][0].Services[0].Envs[0], rd.Parameters[store.VarParamPrefix+"token"]} {
		if !strings.Contains(v, "sealed:v1:"+k2.KeyID()+":") {
			t.Errorf("after Reseal: %q, want it sealed with key %s", v, k2.KeyID())
		}
	}
	if rv.Revision != reg.Version.Revision || rd.Revision != d.Revision {
		t.Errorf("Reseal changed revisions: version %d, deployment %d", rv.Revision, rd.Revision)
	}
	only2 := store.New(plain.Driver(), &store.Options{Keys: keyring(t, 2)})
	if got, err := only2.GetDeployment(ctx, d.Name); err != nil || got.Parameters[store.VarParamPrefix+"token"] != secret {
		t.Errorf("reading with the new key alone: %+v, %v", got, err)
	}
	if n, err := rotated.Reseal(ctx); err != nil || n != 0 {
		t.Errorf("a second Reseal: %d records, %v; want none", n, err)
	}
	// A value that looks sealed is refused rather than stored as a secret.
	fake := Spec("fake")
	fake[0][0].Services[0].Envs = []string{"X=sealed:v1:00:abc"}
	_, err = s.CreateVersion(ctx, &product.Version{ProductID: reg.Product.ID, Name: "fake", StackDeps: fake})
	if err == nil {
		t.Error("a value that looks sealed was stored")
	}
}

// keyringErrors: keys of a wrong size and files open to others are refused.
func testKeyring(t *testing.T, _ *store.Store) {
	if _, err := store.NewKeyring(make([]byte, 16)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a 16-byte key: %v", err)
	}
	if _, err := store.ParseKeyring([]byte("# comment\n\nnot base64\n")); !errors.Is(err, store.ErrInvalid) || strings.Contains(fmt.Sprint(err), "not base64") {
		t.Errorf("a bad line: %v (the line must not be echoed)", err)
	}
	if _, err := store.ParseKeyring([]byte("# only a comment\n")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("no key: %v", err)
	}
}
