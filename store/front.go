package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/validate"
)

// Options configure a Store. The zero value means the defaults.
type Options struct {
	// Now is the clock that stamps records, and judges leases when the
	// driver has no clock of its own (see Clock); nil means time.Now.
	// Tests inject a fake clock here.
	Now func() time.Time
	// MaxOperations caps each deployment's history; zero means
	// DefaultMaxOperations.
	MaxOperations int
	// Catalog lists the unit and volume types version specs may use; nil
	// means stack.DefaultCatalog().
	Catalog *stack.Catalog
	// Keys, when set, seals env values and launch variables at rest (see
	// the package documentation). A store holding sealed values cannot
	// be read without a keyring that has their key.
	Keys *Keyring
}

// Store is the catalog and deployment record store that every caller
// holds. It is safe for concurrent use. Open one with a driver package
// (memory.New, sqlite.Open, postgres.Open, storeurl.Open) or with New
// over any Driver.
type Store struct {
	d      Driver
	now    func() time.Time
	maxOps int
	rules  *validate.Options
	keys   *Keyring
	closed atomic.Bool

	hub *hub
	// listen runs the driver's Notifier once a subscription needs it.
	listenOnce   sync.Once
	listenCancel context.CancelFunc
	listenDone   chan struct{}
}

// New returns a Store over d. opts may be nil.
func New(d Driver, opts *Options) *Store {
	s := &Store{d: d, now: time.Now, maxOps: DefaultMaxOperations, hub: newHub()}
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
		s.keys = opts.Keys
	}
	return s
}

// Driver returns the driver the store writes to.
func (s *Store) Driver() Driver { return s.d }

// Close closes the driver and ends every subscription. Calls after Close
// fail with ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.listenOnce.Do(func() {}) // no listener starts from now on
	if s.listenCancel != nil {
		s.listenCancel()
		<-s.listenDone
	}
	s.hub.close()
	return s.d.Close()
}

// clock returns the store's time in UTC, to the microsecond: every
// driver keeps that much (PostgreSQL keeps no more).
func (s *Store) clock() time.Time { return s.now().Round(0).UTC().Truncate(time.Microsecond) }

// start checks that the store is open and ctx live.
func (s *Store) start(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// update runs fn in a write transaction of the driver.
func (s *Store) update(ctx context.Context, opts *TxOptions, fn func(Tx) error) error {
	if err := s.start(ctx); err != nil {
		return err
	}
	return s.d.Update(ctx, opts, fn)
}

// Products

// CreateProduct stores a new product. An empty ID is replaced with a new
// one (product.NewProductID); an empty Visibility means private. Names
// are unique in the store, also under concurrent creates from several
// processes: exactly one wins, the others get ErrAlreadyExists.
// CreatedAt, UpdatedAt and Revision (1) are set by the store; the stored
// record is returned.
//
// A product without a version cannot be launched: to catalogue a product
// document, use Register, which writes both at once.
func (s *Store) CreateProduct(ctx context.Context, p *product.Product) (*product.Product, error) {
	np, err := s.newProduct(p)
	if err != nil {
		return nil, fmt.Errorf("create product: %w", err)
	}
	err = s.update(ctx, nil, func(tx Tx) error {
		return tx.InsertProduct(ctx, CloneProduct(np))
	})
	if err != nil {
		return nil, fmt.Errorf("create product %q: %w", np.Name, err)
	}
	return np, nil
}

// newProduct checks p and returns the record to insert.
func (s *Store) newProduct(p *product.Product) (*product.Product, error) {
	if err := checkProduct(p); err != nil {
		return nil, err
	}
	np := CloneProduct(p)
	np.ID = cmp.Or(np.ID, product.NewProductID())
	np.Visibility = cmp.Or(np.Visibility, product.Private)
	now := s.clock()
	np.CreatedAt, np.UpdatedAt, np.Revision = now, now, 1
	return np, nil
}

// GetProduct returns the product with the given ID, or with the given
// name when no ID matches; ErrNotFound when neither does.
func (s *Store) GetProduct(ctx context.Context, idOrName string) (*product.Product, error) {
	if err := checkKey("product", idOrName); err != nil {
		return nil, fmt.Errorf("get product: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	p, err := s.d.Product(ctx, idOrName)
	if errors.Is(err, ErrNotFound) {
		p, err = s.d.ProductByName(ctx, idOrName)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("product %q: %w", idOrName, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get product %q: %w", idOrName, err)
	}
	return p, nil
}

// ListProducts returns one page of products.
func (s *Store) ListProducts(ctx context.Context, q ProductQuery) (*ProductPage, error) {
	page, size, err := checkPage(q)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	items, total, err := s.d.ListProducts(ctx, ProductList{
		Name: q.Name, Text: checkSearchQuery(q.Text), Offset: (page - 1) * size, Limit: size, Newest: q.Newest,
	})
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	if items == nil {
		items = []*product.Product{}
	}
	return &ProductPage{Items: items, Total: total, Page: page, PageSize: size}, nil
}

// UpdateProduct replaces the mutable fields of a product (name, provider
// name, description, product type, visibility, tags). p.Revision must be
// the stored revision, else ErrConflict.
func (s *Store) UpdateProduct(ctx context.Context, p *product.Product) (*product.Product, error) {
	if err := checkProduct(p); err != nil {
		return nil, fmt.Errorf("update product: %w", err)
	}
	if err := checkKey("product_id", p.ID); err != nil {
		return nil, fmt.Errorf("update product: %w", err)
	}
	np := CloneProduct(p)
	np.Visibility = cmp.Or(np.Visibility, product.Private)
	err := s.update(ctx, nil, func(tx Tx) error {
		old, err := tx.Product(ctx, p.ID)
		if err != nil {
			return err
		}
		if old.Revision != p.Revision {
			return stale(p.Revision, old.Revision)
		}
		np.CreatedAt, np.UpdatedAt, np.Revision = old.CreatedAt, s.clock(), old.Revision+1
		return tx.UpdateProduct(ctx, CloneProduct(np), old.Revision)
	})
	if err != nil {
		return nil, fmt.Errorf("update product %q: %w", p.ID, err)
	}
	return np, nil
}

func stale(have, stored int64) error {
	return fmt.Errorf("at revision %d (stored %d): %w", have, stored, ErrConflict)
}

// DeleteProduct deletes a product and its versions. It fails with
// ErrInUse while a deployment of the product exists.
func (s *Store) DeleteProduct(ctx context.Context, id string) error {
	if err := checkKey("product_id", id); err != nil {
		return fmt.Errorf("delete product: %w", err)
	}
	err := s.update(ctx, nil, func(tx Tx) error {
		if _, err := tx.Product(ctx, id); err != nil {
			return err
		}
		if name, err := tx.InUse(ctx, id, ""); err != nil || name != "" {
			return cmp.Or(err, fmt.Errorf("deployment %q: %w", name, ErrInUse))
		}
		return tx.DeleteProduct(ctx, id)
	})
	if err != nil {
		return fmt.Errorf("delete product %q: %w", id, err)
	}
	return nil
}

// Versions

// CreateVersion stores a new version of v.ProductID (ErrNotFound if there
// is no such product). An empty ID is replaced with a new one; an empty
// Guidance means Default. When v.TemplateURL is set and v.StackDeps is
// empty, the spec is copied from that template (ErrNotFound if it does
// not exist). ContentHash is computed by the store with product.Hash.
// Version names are unique per product (ErrAlreadyExists).
func (s *Store) CreateVersion(ctx context.Context, v *product.Version) (*product.Version, error) {
	if err := checkVersion(v, s.rules); err != nil {
		return nil, fmt.Errorf("create version: %w", err)
	}
	var nv *product.Version
	err := s.update(ctx, nil, func(tx Tx) (err error) {
		if _, err := tx.Product(ctx, v.ProductID); err != nil {
			return fmt.Errorf("product %q: %w", v.ProductID, err)
		}
		nv, err = s.insertVersion(ctx, tx, v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create version %q: %w", v.Name, err)
	}
	return nv, nil
}

// insertVersion completes a checked version (ID, guidance, a template's
// spec, content hash, stamps) and inserts it, sealed, in tx. It returns
// the version as stored, unsealed.
func (s *Store) insertVersion(ctx context.Context, tx Tx, v *product.Version) (*product.Version, error) {
	nv := CloneVersion(v)
	nv.ID = cmp.Or(nv.ID, product.NewVersionID())
	nv.Guidance = cmp.Or(nv.Guidance, product.GuidanceDefault)
	if nv.TemplateURL != "" {
		t, err := s.template(ctx, tx, nv.TemplateURL)
		if err != nil {
			return nil, err
		}
		if len(nv.StackDeps) == 0 {
			nv.StackDeps = t.StackDeps
		} else if product.Hash(nv.StackDeps) != t.ContentHash {
			return nil, Invalid("stack_deps", nil, "differs from the spec of template "+nv.TemplateURL)
		}
	}
	nv.ContentHash = product.Hash(nv.StackDeps)
	now := s.clock()
	nv.CreatedAt, nv.UpdatedAt, nv.Revision = now, now, 1
	sealed, err := s.sealVersion(nv)
	if err != nil {
		return nil, err
	}
	if err := tx.InsertVersion(ctx, sealed); err != nil {
		return nil, err
	}
	return nv, nil
}

// template reads a template by ID or URL through r, unsealed.
func (s *Store) template(ctx context.Context, r Reader, idOrURL string) (*Template, error) {
	id, _ := checkTemplateID("template_url", idOrURL)
	t, err := r.Template(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", idOrURL, err)
	}
	if t.StackDeps, err = s.openDeps(t.StackDeps); err != nil {
		return nil, fmt.Errorf("template %q: %w", idOrURL, err)
	}
	t.URL = TemplateURLPrefix + t.ID
	return t, nil
}

// GetVersion returns a version by ID.
func (s *Store) GetVersion(ctx context.Context, id string) (*product.Version, error) {
	if err := checkKey("product_version_id", id); err != nil {
		return nil, fmt.Errorf("get version: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	v, err := s.d.Version(ctx, id)
	if err == nil {
		v.StackDeps, err = s.openDeps(v.StackDeps)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("version %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get version %q: %w", id, err)
	}
	return v, nil
}

// ListVersions returns the versions of a product, oldest first,
// optionally only those with the given content hash.
func (s *Store) ListVersions(ctx context.Context, productID string, q VersionQuery) ([]*product.Version, error) {
	if err := checkKey("product_id", productID); err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	if err := checkOptionalKey("content_hash", q.ContentHash); err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	vs, err := s.d.ListVersions(ctx, productID, q.ContentHash)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("list versions: product %q: %w", productID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	for _, v := range vs {
		if v.StackDeps, err = s.openDeps(v.StackDeps); err != nil {
			return nil, fmt.Errorf("list versions: version %q: %w", v.ID, err)
		}
	}
	if vs == nil {
		vs = []*product.Version{}
	}
	return vs, nil
}

// UpdateVersion changes the mutable fields of a version: Guidance, Active
// and Description. Everything else is immutable: a change to it fails
// with ErrInvalid. v.Revision must match (ErrConflict).
func (s *Store) UpdateVersion(ctx context.Context, v *product.Version) (*product.Version, error) {
	if err := checkVersionUpdate(v); err != nil {
		return nil, fmt.Errorf("update version: %w", err)
	}
	var nv *product.Version
	err := s.update(ctx, nil, func(tx Tx) error {
		old, err := tx.Version(ctx, v.ID)
		if err != nil {
			return err
		}
		rev := old.Revision
		if rev != v.Revision {
			return stale(v.Revision, rev)
		}
		if old.StackDeps, err = s.openDeps(old.StackDeps); err != nil {
			return err
		}
		if err := checkImmutable(old, v); err != nil {
			return err
		}
		nv = old
		nv.Guidance, nv.Active, nv.Description = cmp.Or(v.Guidance, product.GuidanceDefault), v.Active, v.Description
		nv.UpdatedAt = s.clock()
		nv.Revision++
		sealed, err := s.sealVersion(nv)
		if err != nil {
			return err
		}
		return tx.UpdateVersion(ctx, sealed, rev)
	})
	if err != nil {
		return nil, fmt.Errorf("update version %q: %w", v.ID, err)
	}
	return nv, nil
}

// DeleteVersion deletes a version. It fails with ErrInUse while a
// deployment runs it or is being moved to it.
func (s *Store) DeleteVersion(ctx context.Context, id string) error {
	if err := checkKey("product_version_id", id); err != nil {
		return fmt.Errorf("delete version: %w", err)
	}
	err := s.update(ctx, nil, func(tx Tx) error {
		if _, err := tx.Version(ctx, id); err != nil {
			return err
		}
		if name, err := tx.InUse(ctx, "", id); err != nil || name != "" {
			return cmp.Or(err, fmt.Errorf("deployment %q: %w", name, ErrInUse))
		}
		return tx.DeleteVersion(ctx, id)
	})
	if err != nil {
		return fmt.Errorf("delete version %q: %w", id, err)
	}
	return nil
}

// Templates

// CreateTemplate stores a stack_deps spec on its own, so versions can
// refer to it by URL, and returns it with its ID and its reference URL
// ("stackwave://templates/tpl-...").
func (s *Store) CreateTemplate(ctx context.Context, t *Template) (*Template, error) {
	if err := checkTemplate(t, s.rules); err != nil {
		return nil, fmt.Errorf("create template: %w", err)
	}
	nt := t.Clone()
	nt.ID = cmp.Or(nt.ID, product.NewTemplateID())
	nt.URL = TemplateURLPrefix + nt.ID
	nt.ContentHash = product.Hash(nt.StackDeps)
	nt.CreatedAt = s.clock()
	sealed := nt.Clone()
	var err error
	if sealed.StackDeps, err = s.sealDeps(sealed.StackDeps); err != nil {
		return nil, fmt.Errorf("create template: %w", err)
	}
	err = s.update(ctx, nil, func(tx Tx) error {
		return tx.InsertTemplate(ctx, sealed.Clone())
	})
	if err != nil {
		return nil, fmt.Errorf("create template %q: %w", nt.ID, err)
	}
	return nt, nil
}

// GetTemplate returns a template by ID or URL.
func (s *Store) GetTemplate(ctx context.Context, idOrURL string) (*Template, error) {
	if _, err := checkTemplateID("template", idOrURL); err != nil {
		return nil, fmt.Errorf("get template: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	t, err := s.template(ctx, s.d, idOrURL)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("get %w", err)
	}
	return t, err
}

// Deployments

// refs checks that the product and versions d names exist and belong
// together.
func refs(ctx context.Context, tx Tx, d *Deployment) error {
	if _, err := tx.Product(ctx, d.ProductID); err != nil {
		return fmt.Errorf("product %q: %w", d.ProductID, err)
	}
	for _, r := range [...]struct{ field, id string }{{"version", d.VersionID}, {"target version", d.TargetVersionID}} {
		if r.id == "" {
			continue
		}
		v, err := tx.Version(ctx, r.id)
		if err != nil {
			return fmt.Errorf("%s %q: %w", r.field, r.id, err)
		}
		if err := checkVersionBelongs(r.field, r.id, v.ProductID, d.ProductID); err != nil {
			return err
		}
	}
	return nil
}

// CreateDeployment stores a new deployment. Names are DNS-1123 labels,
// unique in the store (ErrAlreadyExists). The product and version must
// exist, the version (and TargetVersionID, when set) being one of that
// product's (ErrNotFound). An empty Status means StatusUnderChange.
// CreatedAt, UpdatedAt and Revision (1) are set by the store, and the
// history is capped as by UpdateDeployment.
func (s *Store) CreateDeployment(ctx context.Context, d *Deployment) (*Deployment, error) {
	if err := checkDeployment(d); err != nil {
		return nil, fmt.Errorf("create deployment: %w", err)
	}
	nd := d.Clone()
	nd.Status = cmp.Or(nd.Status, StatusUnderChange)
	nd.Operations = checkTrimOperations(nd.Operations, s.maxOps)
	now := s.clock()
	nd.CreatedAt, nd.UpdatedAt, nd.Revision = now, now, 1
	sealed, err := s.sealDeployment(nd)
	if err != nil {
		return nil, fmt.Errorf("create deployment %q: %w", nd.Name, err)
	}
	err = s.update(ctx, nil, func(tx Tx) error {
		if _, err := tx.Deployment(ctx, nd.Name); err == nil {
			return ErrAlreadyExists
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := refs(ctx, tx, nd); err != nil {
			return err
		}
		if err := tx.InsertDeployment(ctx, sealed.Clone()); err != nil {
			return err
		}
		return notify(ctx, tx, nd.Name)
	})
	if err != nil {
		return nil, fmt.Errorf("create deployment %q: %w", nd.Name, err)
	}
	s.hub.signal(nd.Name)
	return nd, nil
}

// GetDeployment returns a deployment by name.
func (s *Store) GetDeployment(ctx context.Context, name string) (*Deployment, error) {
	if err := checkDeploymentName("name", name); err != nil {
		return nil, fmt.Errorf("get deployment: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	d, err := s.d.Deployment(ctx, name)
	if err == nil {
		err = s.openDeployment(d)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("deployment %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get deployment %q: %w", name, err)
	}
	return d, nil
}

// ListDeployments returns deployments sorted by name.
func (s *Store) ListDeployments(ctx context.Context, q DeploymentQuery) ([]*Deployment, error) {
	if err := checkDeploymentQuery(q); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	ds, err := s.d.ListDeployments(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	for _, d := range ds {
		if err := s.openDeployment(d); err != nil {
			return nil, fmt.Errorf("list deployments: %q: %w", d.Name, err)
		}
	}
	if ds == nil {
		ds = []*Deployment{}
	}
	return ds, nil
}

// UpdateDeployment replaces a deployment record; d.Revision must be the
// stored revision (ErrConflict). The product of a deployment never
// changes (ErrInvalid); its versions must exist as for CreateDeployment.
// The store keeps at most its configured number of operations
// (Options.MaxOperations), newest last, dropping the oldest.
//
// With [WithEvents] and [ReleasingLease], the record, the events and the
// lease's release are written in one transaction: a reader sees all or
// none of them, and a call that fails (ErrConflict, ErrInvalid,
// ErrLeaseHeld, a crash) writes nothing.
func (s *Store) UpdateDeployment(ctx context.Context, d *Deployment, opts ...UpdateOption) (*Deployment, error) {
	if err := checkDeployment(d); err != nil {
		return nil, fmt.Errorf("update deployment: %w", err)
	}
	var uo updateOptions
	for _, o := range opts {
		if o != nil {
			o(&uo)
		}
	}
	evs, err := s.newEvents(uo.events)
	if err != nil {
		return nil, fmt.Errorf("update deployment %q: %w", d.Name, err)
	}
	if uo.release != nil {
		if err := checkKey("owner", *uo.release); err != nil {
			return nil, fmt.Errorf("update deployment %q: %w", d.Name, err)
		}
	}
	nd := d.Clone()
	nd.Status = cmp.Or(nd.Status, StatusUnderChange)
	nd.Operations = checkTrimOperations(nd.Operations, s.maxOps)
	sealed, err := s.sealDeployment(nd)
	if err != nil {
		return nil, fmt.Errorf("update deployment %q: %w", nd.Name, err)
	}
	err = s.update(ctx, nil, func(tx Tx) error {
		old, err := tx.Deployment(ctx, nd.Name)
		switch {
		case err != nil:
			return err
		case old.Revision != d.Revision:
			return stale(d.Revision, old.Revision)
		case old.ProductID != nd.ProductID:
			return Invalid("product_id", nd.ProductID, "is immutable")
		}
		if uo.release != nil {
			if err := releaseLease(ctx, tx, nd.Name, *uo.release); err != nil {
				return fmt.Errorf("release lease for %q: %w", *uo.release, err)
			}
		}
		// Versions in use cannot be deleted: references checked when
		// they were written hold while they are unchanged.
		if old.VersionID != nd.VersionID || old.TargetVersionID != nd.TargetVersionID && nd.TargetVersionID != "" {
			if err := refs(ctx, tx, nd); err != nil {
				return err
			}
		}
		nd.CreatedAt, nd.UpdatedAt, nd.Revision = old.CreatedAt, s.clock(), old.Revision+1
		w := sealed.Clone()
		w.CreatedAt, w.UpdatedAt, w.Revision = nd.CreatedAt, nd.UpdatedAt, nd.Revision
		if err := tx.UpdateDeployment(ctx, w, old.Revision); err != nil {
			return err
		}
		if len(evs) > 0 {
			// A driver may run fn again: it gets fresh copies.
			if err := tx.AppendEvents(ctx, nd.Name, slices.Clone(evs)); err != nil {
				return err
			}
		}
		return notify(ctx, tx, nd.Name)
	})
	if err != nil {
		return nil, fmt.Errorf("update deployment %q: %w", nd.Name, err)
	}
	s.hub.signal(nd.Name)
	if uo.release != nil {
		s.hub.signal(releasedKey)
	}
	return nd, nil
}

// DeleteDeployment deletes a deployment record, its events and its lease.
// revision must match (ErrConflict).
func (s *Store) DeleteDeployment(ctx context.Context, name string, revision int64) error {
	if err := checkDeploymentName("name", name); err != nil {
		return fmt.Errorf("delete deployment: %w", err)
	}
	err := s.update(ctx, nil, func(tx Tx) error {
		old, err := tx.Deployment(ctx, name)
		if err != nil {
			return err
		}
		if old.Revision != revision {
			return stale(revision, old.Revision)
		}
		if err := tx.DeleteDeployment(ctx, name); err != nil {
			return err
		}
		return notify(ctx, tx, name)
	})
	if err != nil {
		return fmt.Errorf("delete deployment %q: %w", name, err)
	}
	s.hub.signal(name)
	return nil
}

// AppendEvents appends events to a deployment's log, in order, all or
// none. The store assigns each a Seq, increasing per deployment; a zero
// Time is set to the store's clock. Each event needs an OperationID and a
// Type (ErrInvalid); the deployment must exist (ErrNotFound). Events are
// never changed once appended.
func (s *Store) AppendEvents(ctx context.Context, deployment string, events ...Event) error {
	if err := checkDeploymentName("deployment", deployment); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	evs, err := s.newEvents(events)
	if err != nil {
		return fmt.Errorf("append events to %q: %w", deployment, err)
	}
	err = s.update(ctx, nil, func(tx Tx) error {
		if err := tx.AppendEvents(ctx, deployment, slices.Clone(evs)); err != nil {
			return err
		}
		return notify(ctx, tx, deployment)
	})
	if err != nil {
		return fmt.Errorf("append events to %q: %w", deployment, err)
	}
	s.hub.signal(deployment)
	return nil
}

// newEvents checks events to append and returns them as they are
// appended: a zero Time set to the store's clock, Seq left to the driver.
func (s *Store) newEvents(events []Event) ([]Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if err := checkEvents(events); err != nil {
		return nil, err
	}
	now := s.clock()
	evs := slices.Clone(events)
	for i := range evs {
		if evs[i].Time.IsZero() {
			evs[i].Time = now
		}
		evs[i].Time = evs[i].Time.Round(0).Truncate(time.Microsecond)
		evs[i].Seq = 0
	}
	return evs, nil
}

// UpdateOption qualifies an UpdateDeployment.
type UpdateOption func(*updateOptions)

type updateOptions struct {
	events  []Event
	release *string // owner
}

// WithEvents makes UpdateDeployment append events to the deployment's
// log, as AppendEvents would (same rules, same numbering), in the
// transaction that writes the record. A writer that ends an operation
// this way never lets a reader see the operation's last event with the
// record still in progress, nor the record ended without every event
// given here. Given twice, the last one wins.
func WithEvents(events ...Event) UpdateOption {
	evs := slices.Clone(events)
	return func(o *updateOptions) { o.events = evs }
}

// ReleasingLease makes UpdateDeployment release owner's lease on the
// deployment, as ReleaseLease would, in the transaction that writes the
// record: the update fails, writing nothing, with ErrLeaseHeld (a
// *LeaseHeldError) when another owner holds the lease, and with
// ErrNotFound when there is none. A writer that ends an operation this
// way lets a reader that sees the end start the next operation at once,
// from any process, and never writes a record whose lease another owner
// took. Subscribers of SubscribeReleases hear of it.
func ReleasingLease(owner string) UpdateOption {
	return func(o *updateOptions) { o.release = &owner }
}

// ListEvents returns a deployment's events with Seq > q.AfterSeq, in
// order, at most q.Limit of them (zero: all), optionally only those of one
// operation. The deployment must exist (ErrNotFound).
func (s *Store) ListEvents(ctx context.Context, deployment string, q EventQuery) ([]Event, error) {
	if err := checkDeploymentName("deployment", deployment); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if err := checkEventQuery(q); err != nil {
		return nil, fmt.Errorf("list events of %q: %w", deployment, err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	evs, err := s.d.ListEvents(ctx, deployment, q)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("list events: deployment %q: %w", deployment, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("list events of %q: %w", deployment, err)
	}
	if evs == nil {
		evs = []Event{}
	}
	return evs, nil
}

// notify tells the other processes sharing the database that key
// changed, when the driver can.
func notify(ctx context.Context, tx Tx, key string) error {
	if n, ok := tx.(TxNotifier); ok {
		return n.Notify(ctx, key)
	}
	return nil
}
