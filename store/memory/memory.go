// Package memory keeps a store in memory, for tests and for embedders'
// unit tests. New returns a *store.Store over it, which keeps every rule
// the persistent drivers keep (the rules live in the store), so code
// tested against it behaves the same on store/sqlite and store/postgres.
// Its records live as long as the Store.
package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
)

// Options configure a Store; nil means the defaults.
type Options = store.Options

// New returns an empty store in memory. opts may be nil.
func New(opts *Options) *store.Store { return store.New(NewDriver(), opts) }

// Driver is the in-memory store.Driver. It is safe for concurrent use.
// Tests wrap it to inject faults: store.New(&faulty{Driver: NewDriver()}, nil).
type Driver struct {
	mu          sync.RWMutex
	closed      bool
	products    map[string]*product.Product // by ID
	byName      map[string]*product.Product
	ordered     []*product.Product // by CreatedAt, then ID
	versions    map[string]*product.Version
	templates   map[string]*store.Template
	deployments map[string]*store.Deployment
	events      map[string][]store.Event
	eventSeq    map[string]int64
	leases      map[string]*store.Lease
}

var _ store.Driver = (*Driver)(nil)

// NewDriver returns an empty Driver.
func NewDriver() *Driver {
	return &Driver{
		products:    make(map[string]*product.Product),
		byName:      make(map[string]*product.Product),
		versions:    make(map[string]*product.Version),
		templates:   make(map[string]*store.Template),
		deployments: make(map[string]*store.Deployment),
		events:      make(map[string][]store.Event),
		eventSeq:    make(map[string]int64),
		leases:      make(map[string]*store.Lease),
	}
}

// Close empties the driver; later calls fail with store.ErrClosed.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.products, d.byName, d.ordered = nil, nil, nil
	d.versions, d.templates, d.deployments, d.events, d.leases = nil, nil, nil, nil, nil
	return nil
}

// read takes the read lock after checking ctx and returns with it held
// unless it returns an error.
func (d *Driver) read(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.RLock()
	if d.closed {
		d.mu.RUnlock()
		return store.ErrClosed
	}
	return nil
}

// Update implements store.Driver: fn runs under the write lock, and the
// writes of a fn that fails are undone.
func (d *Driver) Update(ctx context.Context, _ *store.TxOptions, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return store.ErrClosed
	}
	tx := &tx{d: d}
	err := fn(tx)
	if err == nil {
		err = ctx.Err() // nothing is committed under a cancelled context
	}
	if err != nil {
		for i := len(tx.undo) - 1; i >= 0; i-- {
			tx.undo[i]()
		}
	}
	tx.d = nil
	return err
}

func productLess(a, b *product.Product) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Reads. The lookups are shared by Driver (under the read lock) and tx
// (under the write lock).

func (d *Driver) product(id string) (*product.Product, error) {
	if p, ok := d.products[id]; ok {
		return store.CloneProduct(p), nil
	}
	return nil, store.ErrNotFound
}

func (d *Driver) productByName(name string) (*product.Product, error) {
	if p, ok := d.byName[name]; ok {
		return store.CloneProduct(p), nil
	}
	return nil, store.ErrNotFound
}

func (d *Driver) version(id string) (*product.Version, error) {
	if v, ok := d.versions[id]; ok {
		return store.CloneVersion(v), nil
	}
	return nil, store.ErrNotFound
}

func (d *Driver) template(id string) (*store.Template, error) {
	if t, ok := d.templates[id]; ok {
		return t.Clone(), nil
	}
	return nil, store.ErrNotFound
}

func (d *Driver) deployment(name string) (*store.Deployment, error) {
	if x, ok := d.deployments[name]; ok {
		return x.Clone(), nil
	}
	return nil, store.ErrNotFound
}

func (d *Driver) lease(name string) (*store.Lease, error) {
	if l, ok := d.leases[name]; ok {
		c := *l
		return &c, nil
	}
	return nil, store.ErrNotFound
}

// withRead runs a lookup under the read lock.
func withRead[T any](ctx context.Context, d *Driver, fn func() (T, error)) (T, error) {
	if err := d.read(ctx); err != nil {
		var zero T
		return zero, err
	}
	defer d.mu.RUnlock()
	return fn()
}

// Product implements store.Reader.
func (d *Driver) Product(ctx context.Context, id string) (*product.Product, error) {
	return withRead(ctx, d, func() (*product.Product, error) { return d.product(id) })
}

// ProductByName implements store.Reader.
func (d *Driver) ProductByName(ctx context.Context, name string) (*product.Product, error) {
	return withRead(ctx, d, func() (*product.Product, error) { return d.productByName(name) })
}

// Version implements store.Reader.
func (d *Driver) Version(ctx context.Context, id string) (*product.Version, error) {
	return withRead(ctx, d, func() (*product.Version, error) { return d.version(id) })
}

// Template implements store.Reader.
func (d *Driver) Template(ctx context.Context, id string) (*store.Template, error) {
	return withRead(ctx, d, func() (*store.Template, error) { return d.template(id) })
}

// Deployment implements store.Reader.
func (d *Driver) Deployment(ctx context.Context, name string) (*store.Deployment, error) {
	return withRead(ctx, d, func() (*store.Deployment, error) { return d.deployment(name) })
}

// Lease implements store.Reader.
func (d *Driver) Lease(ctx context.Context, deployment string) (*store.Lease, error) {
	return withRead(ctx, d, func() (*store.Lease, error) { return d.lease(deployment) })
}

// ListProducts implements store.Driver.
func (d *Driver) ListProducts(ctx context.Context, q store.ProductList) ([]*product.Product, int, error) {
	if err := d.read(ctx); err != nil {
		return nil, 0, err
	}
	defer d.mu.RUnlock()
	match := d.ordered
	if q.Name != "" {
		match = nil
		if p, ok := d.byName[q.Name]; ok {
			match = []*product.Product{p}
		}
	}
	if q.Text != "" {
		var m []*product.Product
		for _, p := range match {
			if strings.Contains(store.SearchText(p), q.Text) {
				m = append(m, p)
			}
		}
		match = m
	}
	var items []*product.Product
	for i := q.Offset; i < q.Offset+q.Limit && i < len(match); i++ {
		j := i
		if q.Newest {
			j = len(match) - 1 - i
		}
		items = append(items, store.CloneProduct(match[j]))
	}
	return items, len(match), nil
}

// ListVersions implements store.Driver.
func (d *Driver) ListVersions(ctx context.Context, productID, contentHash string) ([]*product.Version, error) {
	if err := d.read(ctx); err != nil {
		return nil, err
	}
	defer d.mu.RUnlock()
	if _, ok := d.products[productID]; !ok {
		return nil, store.ErrNotFound
	}
	var res []*product.Version
	for _, v := range d.versions {
		if v.ProductID == productID && (contentHash == "" || v.ContentHash == contentHash) {
			res = append(res, v)
		}
	}
	slices.SortFunc(res, func(a, b *product.Version) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	for i, v := range res {
		res[i] = store.CloneVersion(v)
	}
	return res, nil
}

// ListTemplates implements store.Driver.
func (d *Driver) ListTemplates(ctx context.Context) ([]*store.Template, error) {
	if err := d.read(ctx); err != nil {
		return nil, err
	}
	defer d.mu.RUnlock()
	var res []*store.Template
	for _, id := range slices.Sorted(maps.Keys(d.templates)) {
		res = append(res, d.templates[id].Clone())
	}
	return res, nil
}

// ListDeployments implements store.Driver.
func (d *Driver) ListDeployments(ctx context.Context, q store.DeploymentQuery) ([]*store.Deployment, error) {
	if err := d.read(ctx); err != nil {
		return nil, err
	}
	defer d.mu.RUnlock()
	var res []*store.Deployment
	for _, x := range d.deployments {
		if (q.ProductID == "" || x.ProductID == q.ProductID) &&
			(q.VersionID == "" || x.VersionID == q.VersionID) &&
			(q.Status == "" || x.Status == q.Status) {
			res = append(res, x.Clone())
		}
	}
	slices.SortFunc(res, func(a, b *store.Deployment) int { return strings.Compare(a.Name, b.Name) })
	return res, nil
}

// ListEvents implements store.Driver.
func (d *Driver) ListEvents(ctx context.Context, deployment string, q store.EventQuery) ([]store.Event, error) {
	if err := d.read(ctx); err != nil {
		return nil, err
	}
	defer d.mu.RUnlock()
	if _, ok := d.deployments[deployment]; !ok {
		return nil, store.ErrNotFound
	}
	log := d.events[deployment]
	// Seqs increase along the log: find the first after q.AfterSeq.
	from, _ := slices.BinarySearchFunc(log, q.AfterSeq+1, func(e store.Event, seq int64) int { return cmp.Compare(e.Seq, seq) })
	var res []store.Event
	for _, e := range log[from:] {
		if q.OperationID != "" && e.OperationID != q.OperationID {
			continue
		}
		res = append(res, e)
		if q.Limit > 0 && len(res) == q.Limit {
			break
		}
	}
	return res, nil
}

// tx is a write transaction: it writes through to the maps and keeps
// what undoes each write.
type tx struct {
	d    *Driver
	undo []func()
}

var _ store.Tx = (*tx)(nil)

func (t *tx) Product(_ context.Context, id string) (*product.Product, error) { return t.d.product(id) }
func (t *tx) ProductByName(_ context.Context, name string) (*product.Product, error) {
	return t.d.productByName(name)
}
func (t *tx) Version(_ context.Context, id string) (*product.Version, error) { return t.d.version(id) }
func (t *tx) Template(_ context.Context, id string) (*store.Template, error) { return t.d.template(id) }
func (t *tx) Deployment(_ context.Context, name string) (*store.Deployment, error) {
	return t.d.deployment(name)
}
func (t *tx) Lease(_ context.Context, deployment string) (*store.Lease, error) {
	return t.d.lease(deployment)
}

// set stores v under k in m, remembering what was there.
func set[K comparable, V any](t *tx, m map[K]V, k K, v V) {
	old, had := m[k]
	m[k] = v
	t.undo = append(t.undo, func() {
		if had {
			m[k] = old
		} else {
			delete(m, k)
		}
	})
}

// del deletes k from m, remembering what was there.
func del[K comparable, V any](t *tx, m map[K]V, k K) {
	old, had := m[k]
	if !had {
		return
	}
	delete(m, k)
	t.undo = append(t.undo, func() { m[k] = old })
}

// insertOrdered puts p in the ordered list at i; undone in reverse order,
// the indexes of the undos hold.
func (t *tx) insertOrdered(i int, p *product.Product) {
	t.d.ordered = slices.Insert(t.d.ordered, i, p)
	t.undo = append(t.undo, func() { t.d.ordered = slices.Delete(t.d.ordered, i, i+1) })
}

func (t *tx) deleteOrdered(i int) {
	p := t.d.ordered[i]
	t.d.ordered = slices.Delete(t.d.ordered, i, i+1)
	t.undo = append(t.undo, func() { t.d.ordered = slices.Insert(t.d.ordered, i, p) })
}

func (t *tx) InUse(_ context.Context, productID, versionID string) (string, error) {
	var names []string
	for _, x := range t.d.deployments {
		if productID != "" && x.ProductID == productID ||
			versionID != "" && (x.VersionID == versionID || x.TargetVersionID == versionID) {
			names = append(names, x.Name)
		}
	}
	if len(names) == 0 {
		return "", nil
	}
	return slices.Min(names), nil
}

func (t *tx) InsertProduct(_ context.Context, p *product.Product) error {
	if _, ok := t.d.products[p.ID]; ok {
		return fmt.Errorf("id %q: %w", p.ID, store.ErrAlreadyExists)
	}
	if _, ok := t.d.byName[p.Name]; ok {
		return store.ErrAlreadyExists
	}
	set(t, t.d.products, p.ID, p)
	set(t, t.d.byName, p.Name, p)
	i, _ := slices.BinarySearchFunc(t.d.ordered, p, productLess)
	t.insertOrdered(i, p)
	return nil
}

func (t *tx) UpdateProduct(_ context.Context, p *product.Product, revision int64) error {
	old, ok := t.d.products[p.ID]
	switch {
	case !ok:
		return store.ErrNotFound
	case old.Revision != revision:
		return store.ErrConflict
	}
	if other, ok := t.d.byName[p.Name]; ok && other != old {
		return fmt.Errorf("name %q: %w", p.Name, store.ErrAlreadyExists)
	}
	del(t, t.d.byName, old.Name)
	set(t, t.d.byName, p.Name, p)
	set(t, t.d.products, p.ID, p)
	i, _ := slices.BinarySearchFunc(t.d.ordered, old, productLess)
	t.deleteOrdered(i)
	j, _ := slices.BinarySearchFunc(t.d.ordered, p, productLess)
	t.insertOrdered(j, p)
	return nil
}

func (t *tx) DeleteProduct(_ context.Context, id string) error {
	p, ok := t.d.products[id]
	if !ok {
		return store.ErrNotFound
	}
	for vid, v := range t.d.versions {
		if v.ProductID == id {
			del(t, t.d.versions, vid)
		}
	}
	del(t, t.d.products, id)
	del(t, t.d.byName, p.Name)
	i, _ := slices.BinarySearchFunc(t.d.ordered, p, productLess)
	t.deleteOrdered(i)
	return nil
}

func (t *tx) InsertVersion(_ context.Context, v *product.Version) error {
	if _, ok := t.d.products[v.ProductID]; !ok {
		return store.ErrNotFound
	}
	if _, ok := t.d.versions[v.ID]; ok {
		return fmt.Errorf("id %q: %w", v.ID, store.ErrAlreadyExists)
	}
	for _, o := range t.d.versions {
		if o.ProductID == v.ProductID && o.Name == v.Name {
			return fmt.Errorf("of product %q: %w", v.ProductID, store.ErrAlreadyExists)
		}
	}
	set(t, t.d.versions, v.ID, v)
	return nil
}

func (t *tx) UpdateVersion(_ context.Context, v *product.Version, revision int64) error {
	old, ok := t.d.versions[v.ID]
	switch {
	case !ok:
		return store.ErrNotFound
	case old.Revision != revision:
		return store.ErrConflict
	}
	set(t, t.d.versions, v.ID, v)
	return nil
}

func (t *tx) DeleteVersion(_ context.Context, id string) error {
	if _, ok := t.d.versions[id]; !ok {
		return store.ErrNotFound
	}
	del(t, t.d.versions, id)
	return nil
}

func (t *tx) InsertTemplate(_ context.Context, tpl *store.Template) error {
	if _, ok := t.d.templates[tpl.ID]; ok {
		return store.ErrAlreadyExists
	}
	set(t, t.d.templates, tpl.ID, tpl)
	return nil
}

func (t *tx) UpdateTemplate(_ context.Context, tpl *store.Template) error {
	if _, ok := t.d.templates[tpl.ID]; !ok {
		return store.ErrNotFound
	}
	set(t, t.d.templates, tpl.ID, tpl)
	return nil
}

func (t *tx) InsertDeployment(_ context.Context, x *store.Deployment) error {
	if _, ok := t.d.deployments[x.Name]; ok {
		return store.ErrAlreadyExists
	}
	set(t, t.d.deployments, x.Name, x)
	return nil
}

func (t *tx) UpdateDeployment(_ context.Context, x *store.Deployment, revision int64) error {
	old, ok := t.d.deployments[x.Name]
	switch {
	case !ok:
		return store.ErrNotFound
	case old.Revision != revision:
		return store.ErrConflict
	}
	set(t, t.d.deployments, x.Name, x)
	return nil
}

func (t *tx) DeleteDeployment(_ context.Context, name string) error {
	if _, ok := t.d.deployments[name]; !ok {
		return store.ErrNotFound
	}
	del(t, t.d.deployments, name)
	del(t, t.d.events, name)
	del(t, t.d.eventSeq, name)
	del(t, t.d.leases, name)
	return nil
}

func (t *tx) AppendEvents(_ context.Context, deployment string, events []store.Event) error {
	if _, ok := t.d.deployments[deployment]; !ok {
		return store.ErrNotFound
	}
	seq := t.d.eventSeq[deployment]
	for i := range events {
		seq++
		events[i].Seq = seq
	}
	set(t, t.d.eventSeq, deployment, seq)
	log := t.d.events[deployment]
	n := len(log)
	t.d.events[deployment] = append(log, events...)
	t.undo = append(t.undo, func() { t.d.events[deployment] = t.d.events[deployment][:n] })
	return nil
}

func (t *tx) PutLease(_ context.Context, l, prev *store.Lease) error {
	cur, ok := t.d.leases[l.Deployment]
	if ok != (prev != nil) || ok && (cur.Owner != prev.Owner || !cur.ExpiresAt.Equal(prev.ExpiresAt)) {
		return store.ErrConflict
	}
	set(t, t.d.leases, l.Deployment, l)
	return nil
}

func (t *tx) DeleteLease(_ context.Context, prev *store.Lease) error {
	cur, ok := t.d.leases[prev.Deployment]
	if !ok || cur.Owner != prev.Owner || !cur.ExpiresAt.Equal(prev.ExpiresAt) {
		return store.ErrConflict
	}
	del(t, t.d.leases, prev.Deployment)
	return nil
}
