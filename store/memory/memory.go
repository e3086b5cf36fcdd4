// Package memory is an in-memory store.Store for tests and for embedders'
// unit tests. It keeps every rule of the contract the persistent drivers
// keep (unique names, revisions, leases, the history cap, ErrInUse) and
// hands out copies, so code tested against it behaves the same on
// store/sqlite and store/postgres. Its records live as long as the Store.
package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/internal/check"
	"github.com/stackwave/stackwave/validate"
)

// Options configure a Store. The zero value means the defaults.
type Options struct {
	// Now is the store's clock, which stamps records and judges lease
	// expiry; nil means time.Now. Tests inject a fake clock here.
	Now func() time.Time
	// MaxOperations caps each deployment's history; zero means
	// store.DefaultMaxOperations.
	MaxOperations int
	// Catalog lists the unit and volume types version specs may use; nil
	// means stack.DefaultCatalog().
	Catalog *stack.Catalog
}

// Store is an in-memory store.Store. It is safe for concurrent use.
type Store struct {
	now    func() time.Time
	maxOps int
	rules  *validate.Options

	mu          sync.RWMutex
	closed      bool
	products    map[string]*product.Product // by ID
	byName      map[string]*product.Product
	ordered     []*product.Product // by CreatedAt, then ID
	versions    map[string]*product.Version
	templates   map[string]*store.Template
	deployments map[string]*store.Deployment
	events      map[string][]store.Event
	leases      map[string]*store.Lease
}

var _ store.Store = (*Store)(nil)

// New returns an empty Store. opts may be nil.
func New(opts *Options) *Store {
	s := &Store{
		now:         time.Now,
		maxOps:      store.DefaultMaxOperations,
		products:    make(map[string]*product.Product),
		byName:      make(map[string]*product.Product),
		versions:    make(map[string]*product.Version),
		templates:   make(map[string]*store.Template),
		deployments: make(map[string]*store.Deployment),
		events:      make(map[string][]store.Event),
		leases:      make(map[string]*store.Lease),
	}
	if opts != nil {
		if opts.Now != nil {
			s.now = opts.Now
		}
		if opts.MaxOperations > 0 {
			s.maxOps = opts.MaxOperations
		}
		if opts.Catalog != nil {
			s.rules = &validate.Options{Catalog: opts.Catalog}
		}
	}
	return s
}

// clock returns the current time without its monotonic reading, in UTC.
func (s *Store) clock() time.Time { return s.now().Round(0).UTC() }

// Close empties the store; later calls fail with store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.products, s.byName, s.ordered = nil, nil, nil
	s.versions, s.templates, s.deployments, s.events, s.leases = nil, nil, nil, nil, nil
	return nil
}

// read and write take the lock after checking ctx and return with it held
// unless they return an error.
func (s *Store) read(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	return nil
}

func (s *Store) write(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	return nil
}

// Products

func productLess(a, b *product.Product) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// CreateProduct implements store.Products.
func (s *Store) CreateProduct(ctx context.Context, p *product.Product) (*product.Product, error) {
	if err := check.Product(p); err != nil {
		return nil, fmt.Errorf("create product: %w", err)
	}
	np := cloneProduct(p)
	if np.ID == "" {
		np.ID = product.NewProductID()
	}
	if np.Visibility == "" {
		np.Visibility = product.Private
	}
	if err := s.write(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if _, ok := s.products[np.ID]; ok {
		return nil, fmt.Errorf("create product %q: id %q: %w", np.Name, np.ID, store.ErrAlreadyExists)
	}
	if _, ok := s.byName[np.Name]; ok {
		return nil, fmt.Errorf("create product %q: %w", np.Name, store.ErrAlreadyExists)
	}
	now := s.clock()
	np.CreatedAt, np.UpdatedAt, np.Revision = now, now, 1
	s.products[np.ID] = np
	s.byName[np.Name] = np
	i, _ := slices.BinarySearchFunc(s.ordered, np, productLess)
	s.ordered = slices.Insert(s.ordered, i, np)
	return cloneProduct(np), nil
}

// GetProduct implements store.Products.
func (s *Store) GetProduct(ctx context.Context, idOrName string) (*product.Product, error) {
	if err := check.Key("product", idOrName); err != nil {
		return nil, fmt.Errorf("get product: %w", err)
	}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	p, ok := s.products[idOrName]
	if !ok {
		p, ok = s.byName[idOrName]
	}
	if !ok {
		return nil, fmt.Errorf("product %q: %w", idOrName, store.ErrNotFound)
	}
	return cloneProduct(p), nil
}

// ListProducts implements store.Products.
func (s *Store) ListProducts(ctx context.Context, q store.ProductQuery) (*store.ProductPage, error) {
	page, size, err := check.Page(q)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var match []*product.Product
	switch {
	case q.Name != "":
		if p, ok := s.byName[q.Name]; ok {
			match = []*product.Product{p}
		}
	default:
		match = s.ordered
	}
	if q.Text != "" {
		text := check.SearchQuery(q.Text)
		var m []*product.Product
		for _, p := range match {
			if strings.Contains(check.SearchText(p), text) {
				m = append(m, p)
			}
		}
		match = m
	}
	res := &store.ProductPage{Items: []*product.Product{}, Total: len(match), Page: page, PageSize: size}
	from := (page - 1) * size
	for i := from; i < from+size && i < len(match); i++ {
		j := i
		if q.Newest {
			j = len(match) - 1 - i
		}
		res.Items = append(res.Items, cloneProduct(match[j]))
	}
	return res, nil
}

// UpdateProduct implements store.Products.
func (s *Store) UpdateProduct(ctx context.Context, p *product.Product) (*product.Product, error) {
	if err := check.Product(p); err != nil {
		return nil, fmt.Errorf("update product: %w", err)
	}
	if err := check.Key("product_id", p.ID); err != nil {
		return nil, fmt.Errorf("update product: %w", err)
	}
	if err := s.write(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	old, ok := s.products[p.ID]
	if !ok {
		return nil, fmt.Errorf("update product %q: %w", p.ID, store.ErrNotFound)
	}
	if old.Revision != p.Revision {
		return nil, fmt.Errorf("update product %q at revision %d (stored %d): %w", p.ID, p.Revision, old.Revision, store.ErrConflict)
	}
	if other, ok := s.byName[p.Name]; ok && other != old {
		return nil, fmt.Errorf("update product %q: name %q: %w", p.ID, p.Name, store.ErrAlreadyExists)
	}
	np := cloneProduct(p)
	np.CreatedAt = old.CreatedAt
	np.UpdatedAt = s.clock()
	np.Revision = old.Revision + 1
	if np.Visibility == "" {
		np.Visibility = product.Private
	}
	delete(s.byName, old.Name)
	s.byName[np.Name] = np
	s.products[np.ID] = np
	i, _ := slices.BinarySearchFunc(s.ordered, old, productLess)
	s.ordered[i] = np
	return cloneProduct(np), nil
}

// DeleteProduct implements store.Products.
func (s *Store) DeleteProduct(ctx context.Context, id string) error {
	if err := check.Key("product_id", id); err != nil {
		return fmt.Errorf("delete product: %w", err)
	}
	if err := s.write(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	p, ok := s.products[id]
	if !ok {
		return fmt.Errorf("delete product %q: %w", id, store.ErrNotFound)
	}
	for _, d := range s.deployments {
		if d.ProductID == id {
			return fmt.Errorf("delete product %q: deployment %q: %w", id, d.Name, store.ErrInUse)
		}
	}
	for vid, v := range s.versions {
		if v.ProductID == id {
			delete(s.versions, vid)
		}
	}
	delete(s.products, id)
	delete(s.byName, p.Name)
	i, _ := slices.BinarySearchFunc(s.ordered, p, productLess)
	s.ordered = slices.Delete(s.ordered, i, i+1)
	return nil
}

// Versions

// CreateVersion implements store.Versions.
func (s *Store) CreateVersion(ctx context.Context, v *product.Version) (*product.Version, error) {
	if err := check.Version(v, s.rules); err != nil {
		return nil, fmt.Errorf("create version: %w", err)
	}
	nv := cloneVersion(v)
	if nv.ID == "" {
		nv.ID = product.NewVersionID()
	}
	if nv.Guidance == "" {
		nv.Guidance = product.GuidanceDefault
	}
	if err := s.write(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if _, ok := s.products[nv.ProductID]; !ok {
		return nil, fmt.Errorf("create version %q: product %q: %w", nv.Name, nv.ProductID, store.ErrNotFound)
	}
	if nv.TemplateURL != "" {
		id, _ := check.TemplateID("template_url", nv.TemplateURL)
		t, ok := s.templates[id]
		if !ok {
			return nil, fmt.Errorf("create version %q: template %q: %w", nv.Name, nv.TemplateURL, store.ErrNotFound)
		}
		if len(nv.StackDeps) == 0 {
			nv.StackDeps = cloneDeps(t.StackDeps)
		} else if product.Hash(nv.StackDeps) != t.ContentHash {
			return nil, fmt.Errorf("create version %q: %w", nv.Name,
				store.Invalid("stack_deps", nil, "differs from the spec of template "+nv.TemplateURL))
		}
	}
	if _, ok := s.versions[nv.ID]; ok {
		return nil, fmt.Errorf("create version %q: id %q: %w", nv.Name, nv.ID, store.ErrAlreadyExists)
	}
	for _, o := range s.versions {
		if o.ProductID == nv.ProductID && o.Name == nv.Name {
			return nil, fmt.Errorf("create version %q of product %q: %w", nv.Name, nv.ProductID, store.ErrAlreadyExists)
		}
	}
	now := s.clock()
	nv.ContentHash = product.Hash(nv.StackDeps)
	nv.CreatedAt, nv.UpdatedAt, nv.Revision = now, now, 1
	s.versions[nv.ID] = nv
	return cloneVersion(nv), nil
}

// GetVersion implements store.Versions.
func (s *Store) GetVersion(ctx context.Context, id string) (*product.Version, error) {
	if err := check.Key("product_version_id", id); err != nil {
		return nil, fmt.Errorf("get version: %w", err)
	}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	v, ok := s.versions[id]
	if !ok {
		return nil, fmt.Errorf("version %q: %w", id, store.ErrNotFound)
	}
	return cloneVersion(v), nil
}

// ListVersions implements store.Versions.
func (s *Store) ListVersions(ctx context.Context, productID string, q store.VersionQuery) ([]*product.Version, error) {
	if err := check.Key("product_id", productID); err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	if err := check.OptionalKey("content_hash", q.ContentHash); err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if _, ok := s.products[productID]; !ok {
		return nil, fmt.Errorf("list versions: product %q: %w", productID, store.ErrNotFound)
	}
	res := []*product.Version{}
	for _, v := range s.versions {
		if v.ProductID == productID && (q.ContentHash == "" || v.ContentHash == q.ContentHash) {
			res = append(res, v)
		}
	}
	slices.SortFunc(res, func(a, b *product.Version) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for i, v := range res {
		res[i] = cloneVersion(v)
	}
	return res, nil
}

// UpdateVersion implements store.Versions.
func (s *Store) UpdateVersion(ctx context.Context, v *product.Version) (*product.Version, error) {
	if err := check.VersionUpdate(v); err != nil {
		return nil, fmt.Errorf("update version: %w", err)
	}
	if err := s.write(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	old, ok := s.versions[v.ID]
	if !ok {
		return nil, fmt.Errorf("update version %q: %w", v.ID, store.ErrNotFound)
	}
	if old.Revision != v.Revision {
		return nil, fmt.Errorf("update version %q at revision %d (stored %d): %w", v.ID, v.Revision, old.Revision, store.ErrConflict)
	}
	if err := check.Immutable(old, v); err != nil {
		return nil, fmt.Errorf("update version %q: %w", v.ID, err)
	}
	nv := cloneVersion(old)
	nv.Guidance, nv.Active, nv.Description = cmp.Or(v.Guidance, product.GuidanceDefault), v.Active, v.Description
	nv.UpdatedAt = s.clock()
	nv.Revision++
	s.versions[nv.ID] = nv
	return cloneVersion(nv), nil
}

// DeleteVersion implements store.Versions.
func (s *Store) DeleteVersion(ctx context.Context, id string) error {
	if err := check.Key("product_version_id", id); err != nil {
		return fmt.Errorf("delete version: %w", err)
	}
	if err := s.write(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.versions[id]; !ok {
		return fmt.Errorf("delete version %q: %w", id, store.ErrNotFound)
	}
	for _, d := range s.deployments {
		if d.VersionID == id || d.TargetVersionID == id {
			return fmt.Errorf("delete version %q: deployment %q: %w", id, d.Name, store.ErrInUse)
		}
	}
	delete(s.versions, id)
	return nil
}

// Templates

// CreateTemplate implements store.Templates.
func (s *Store) CreateTemplate(ctx context.Context, t *store.Template) (*store.Template, error) {
	if err := check.Template(t, s.rules); err != nil {
		return nil, fmt.Errorf("create template: %w", err)
	}
	nt := cloneTemplate(t)
	if nt.ID == "" {
		nt.ID = product.NewTemplateID()
	}
	nt.URL = store.TemplateURLPrefix + nt.ID
	nt.ContentHash = product.Hash(nt.StackDeps)
	if err := s.write(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if _, ok := s.templates[nt.ID]; ok {
		return nil, fmt.Errorf("create template %q: %w", nt.ID, store.ErrAlreadyExists)
	}
	nt.CreatedAt = s.clock()
	s.templates[nt.ID] = nt
	return cloneTemplate(nt), nil
}

// GetTemplate implements store.Templates.
func (s *Store) GetTemplate(ctx context.Context, idOrURL string) (*store.Template, error) {
	id, err := check.TemplateID("template", idOrURL)
	if err != nil {
		return nil, fmt.Errorf("get template: %w", err)
	}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	t, ok := s.templates[id]
	if !ok {
		return nil, fmt.Errorf("template %q: %w", idOrURL, store.ErrNotFound)
	}
	return cloneTemplate(t), nil
}

// Deployments

// refs checks that the product and versions d names exist and belong
// together. The caller holds the lock.
func (s *Store) refs(d *store.Deployment) error {
	if _, ok := s.products[d.ProductID]; !ok {
		return fmt.Errorf("product %q: %w", d.ProductID, store.ErrNotFound)
	}
	for _, r := range [...]struct{ field, id string }{{"version", d.VersionID}, {"target version", d.TargetVersionID}} {
		if r.id == "" {
			continue
		}
		v, ok := s.versions[r.id]
		if !ok {
			return fmt.Errorf("%s %q: %w", r.field, r.id, store.ErrNotFound)
		}
		if err := check.VersionBelongs(r.field, r.id, v.ProductID, d.ProductID); err != nil {
			return err
		}
	}
	return nil
}

// CreateDeployment implements store.Deployments.
func (s *Store) CreateDeployment(ctx context.Context, d *store.Deployment) (*store.Deployment, error) {
	if err := check.Deployment(d); err != nil {
		return nil, fmt.Errorf("create deployment: %w", err)
	}
	nd := cloneDeployment(d)
	if nd.Status == "" {
		nd.Status = store.StatusUnderChange
	}
	nd.Operations = check.TrimOperations(nd.Operations, s.maxOps)
	if err := s.write(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if _, ok := s.deployments[nd.Name]; ok {
		return nil, fmt.Errorf("create deployment %q: %w", nd.Name, store.ErrAlreadyExists)
	}
	if err := s.refs(nd); err != nil {
		return nil, fmt.Errorf("create deployment %q: %w", nd.Name, err)
	}
	now := s.clock()
	nd.CreatedAt, nd.UpdatedAt, nd.Revision = now, now, 1
	s.deployments[nd.Name] = nd
	return cloneDeployment(nd), nil
}

// GetDeployment implements store.Deployments.
func (s *Store) GetDeployment(ctx context.Context, name string) (*store.Deployment, error) {
	if err := check.DeploymentName("name", name); err != nil {
		return nil, fmt.Errorf("get deployment: %w", err)
	}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	d, ok := s.deployments[name]
	if !ok {
		return nil, fmt.Errorf("deployment %q: %w", name, store.ErrNotFound)
	}
	return cloneDeployment(d), nil
}

// ListDeployments implements store.Deployments.
func (s *Store) ListDeployments(ctx context.Context, q store.DeploymentQuery) ([]*store.Deployment, error) {
	if err := check.DeploymentQuery(q); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	res := []*store.Deployment{}
	for _, d := range s.deployments {
		if (q.ProductID == "" || d.ProductID == q.ProductID) &&
			(q.VersionID == "" || d.VersionID == q.VersionID) &&
			(q.Status == "" || d.Status == q.Status) {
			res = append(res, cloneDeployment(d))
		}
	}
	slices.SortFunc(res, func(a, b *store.Deployment) int { return strings.Compare(a.Name, b.Name) })
	return res, nil
}

// UpdateDeployment implements store.Deployments.
func (s *Store) UpdateDeployment(ctx context.Context, d *store.Deployment) (*store.Deployment, error) {
	if err := check.Deployment(d); err != nil {
		return nil, fmt.Errorf("update deployment: %w", err)
	}
	nd := cloneDeployment(d)
	if nd.Status == "" {
		nd.Status = store.StatusUnderChange
	}
	nd.Operations = check.TrimOperations(nd.Operations, s.maxOps)
	if err := s.write(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	old, ok := s.deployments[nd.Name]
	if !ok {
		return nil, fmt.Errorf("update deployment %q: %w", nd.Name, store.ErrNotFound)
	}
	if old.Revision != d.Revision {
		return nil, fmt.Errorf("update deployment %q at revision %d (stored %d): %w", nd.Name, d.Revision, old.Revision, store.ErrConflict)
	}
	if nd.ProductID != old.ProductID {
		return nil, fmt.Errorf("update deployment %q: %w", nd.Name, store.Invalid("product_id", nd.ProductID, "is immutable"))
	}
	if err := s.refs(nd); err != nil {
		return nil, fmt.Errorf("update deployment %q: %w", nd.Name, err)
	}
	nd.CreatedAt = old.CreatedAt
	nd.UpdatedAt = s.clock()
	nd.Revision = old.Revision + 1
	s.deployments[nd.Name] = nd
	return cloneDeployment(nd), nil
}

// DeleteDeployment implements store.Deployments.
func (s *Store) DeleteDeployment(ctx context.Context, name string, revision int64) error {
	if err := check.DeploymentName("name", name); err != nil {
		return fmt.Errorf("delete deployment: %w", err)
	}
	if err := s.write(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	d, ok := s.deployments[name]
	if !ok {
		return fmt.Errorf("delete deployment %q: %w", name, store.ErrNotFound)
	}
	if d.Revision != revision {
		return fmt.Errorf("delete deployment %q at revision %d (stored %d): %w", name, revision, d.Revision, store.ErrConflict)
	}
	delete(s.deployments, name)
	delete(s.events, name)
	delete(s.leases, name)
	return nil
}

// AppendEvents implements store.Deployments.
func (s *Store) AppendEvents(ctx context.Context, deployment string, events ...store.Event) error {
	if err := check.DeploymentName("deployment", deployment); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	if err := check.Events(events); err != nil {
		return fmt.Errorf("append events to %q: %w", deployment, err)
	}
	if err := s.write(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.deployments[deployment]; !ok {
		return fmt.Errorf("append events: deployment %q: %w", deployment, store.ErrNotFound)
	}
	log := s.events[deployment]
	now := s.clock()
	for _, e := range events {
		e.Seq = int64(len(log)) + 1
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = e.Time.Round(0)
		log = append(log, e)
	}
	s.events[deployment] = log
	return nil
}

// ListEvents implements store.Deployments.
func (s *Store) ListEvents(ctx context.Context, deployment string, q store.EventQuery) ([]store.Event, error) {
	if err := check.DeploymentName("deployment", deployment); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if err := check.EventQuery(q); err != nil {
		return nil, fmt.Errorf("list events of %q: %w", deployment, err)
	}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if _, ok := s.deployments[deployment]; !ok {
		return nil, fmt.Errorf("list events: deployment %q: %w", deployment, store.ErrNotFound)
	}
	log := s.events[deployment]
	res := []store.Event{}
	if q.AfterSeq < int64(len(log)) {
		for _, e := range log[q.AfterSeq:] { // Seq n is at index n-1
			if q.OperationID != "" && e.OperationID != q.OperationID {
				continue
			}
			res = append(res, e)
			if q.Limit > 0 && len(res) == q.Limit {
				break
			}
		}
	}
	return res, nil
}

// Leases

// AcquireLease implements store.Leases.
func (s *Store) AcquireLease(ctx context.Context, deployment, owner string, ttl time.Duration) (*store.Lease, error) {
	if err := check.Lease(deployment, owner, ttl); err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}
	if err := s.write(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := s.clock()
	l, ok := s.leases[deployment]
	switch {
	case !ok || !now.Before(l.ExpiresAt):
		l = &store.Lease{Deployment: deployment, Owner: owner, AcquiredAt: now}
	case l.Owner == owner:
		l = &store.Lease{Deployment: deployment, Owner: owner, AcquiredAt: l.AcquiredAt}
	default:
		return nil, fmt.Errorf("acquire lease for %q: %w", owner, &store.LeaseHeldError{Deployment: deployment, Owner: l.Owner, ExpiresAt: l.ExpiresAt})
	}
	l.ExpiresAt = now.Add(ttl)
	s.leases[deployment] = l
	c := *l
	return &c, nil
}

// ReleaseLease implements store.Leases.
func (s *Store) ReleaseLease(ctx context.Context, deployment, owner string) error {
	if err := check.DeploymentName("deployment", deployment); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	if err := check.Key("owner", owner); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	if err := s.write(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	l, ok := s.leases[deployment]
	if !ok {
		return fmt.Errorf("release lease on %q: %w", deployment, store.ErrNotFound)
	}
	if l.Owner != owner {
		return fmt.Errorf("release lease for %q: %w", owner, &store.LeaseHeldError{Deployment: deployment, Owner: l.Owner, ExpiresAt: l.ExpiresAt})
	}
	delete(s.leases, deployment)
	return nil
}

// GetLease implements store.Leases.
func (s *Store) GetLease(ctx context.Context, deployment string) (*store.Lease, error) {
	if err := check.DeploymentName("deployment", deployment); err != nil {
		return nil, fmt.Errorf("get lease: %w", err)
	}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	l, ok := s.leases[deployment]
	if !ok {
		return nil, fmt.Errorf("lease on %q: %w", deployment, store.ErrNotFound)
	}
	c := *l
	c.Expired = !s.clock().Before(l.ExpiresAt)
	return &c, nil
}

// Copies

func cloneProduct(p *product.Product) *product.Product {
	c := *p
	if p.Tags != nil {
		c.Tags = maps.Clone(p.Tags)
	}
	return &c
}

func cloneVersion(v *product.Version) *product.Version {
	c := *v
	c.StackDeps = cloneDeps(v.StackDeps)
	return &c
}

func cloneTemplate(t *store.Template) *store.Template {
	c := *t
	c.StackDeps = cloneDeps(t.StackDeps)
	return &c
}

func cloneDeployment(d *store.Deployment) *store.Deployment {
	c := *d
	if d.Parameters != nil {
		c.Parameters = maps.Clone(d.Parameters)
	}
	c.Stacks = slices.Clone(d.Stacks)
	c.Operations = slices.Clone(d.Operations)
	return &c
}

// cloneDeps copies a spec down to its last slice.
func cloneDeps(deps stack.Deps) stack.Deps {
	if deps == nil {
		return nil
	}
	c := make(stack.Deps, len(deps))
	for i, tier := range deps {
		if tier == nil {
			continue
		}
		c[i] = make(stack.Tier, len(tier))
		for j := range tier {
			c[i][j] = cloneStack(&tier[j])
		}
	}
	return c
}

func cloneStack(s *stack.Stack) stack.Stack {
	c := *s
	c.DependsOn = slices.Clone(s.DependsOn)
	if s.Services != nil {
		c.Services = make([]stack.Service, len(s.Services))
		for i := range s.Services {
			c.Services[i] = cloneService(&s.Services[i])
		}
	}
	if s.InitScripts != nil {
		c.InitScripts = make([]stack.InitScript, len(s.InitScripts))
		for i, is := range s.InitScripts {
			c.InitScripts[i] = stack.InitScript{ServiceName: is.ServiceName, Command: slices.Clone(is.Command)}
		}
	}
	return c
}

func cloneService(s *stack.Service) stack.Service {
	c := *s
	c.Envs = slices.Clone(s.Envs)
	c.Command = slices.Clone(s.Command)
	c.VolumeArgs = slices.Clone(s.VolumeArgs)
	c.ConfigPaths = slices.Clone(s.ConfigPaths)
	if s.AccessPoints != nil {
		c.AccessPoints = make([]stack.AccessPoint, len(s.AccessPoints))
		for i, ap := range s.AccessPoints {
			ap.BackendPorts = slices.Clone(ap.BackendPorts)
			ap.HostPorts = slices.Clone(ap.HostPorts)
			c.AccessPoints[i] = ap
		}
	}
	if s.Readiness != nil {
		r := *s.Readiness
		r.ExpectedCodes = slices.Clone(r.ExpectedCodes)
		r.Command = slices.Clone(r.Command)
		c.Readiness = &r
	}
	return c
}
