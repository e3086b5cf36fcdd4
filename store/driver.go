package store

import (
	"context"
	"time"

	"github.com/stackwave/stackwave/product"
)

// Driver is what a storage back-end implements to hold a Store's records.
// Store keeps every rule (IDs, validation, content hashes, template
// copies, the history cap, reference checks, revisions, lease judgement,
// sealing); a Driver only reads and writes the records it is given, as
// it is given them.
//
// # Contract
//
// Methods may be called concurrently. Records passed to a Driver are
// owned by the driver after the call; records it returns are owned by
// the caller, so a driver never hands out memory it keeps.
//
// Errors are the sentinels of errors.go, wrapped or not: ErrNotFound when
// a record is missing, ErrAlreadyExists when a write would break a
// uniqueness (a product ID or name, a version ID or a version name within
// its product, a template ID, a deployment name), ErrConflict when a
// guarded write finds the record changed, ErrClosed after Close. Any
// other error is the back-end's own and is passed on as it is.
//
// A cancelled context makes a method return promptly with the context's
// error. Update either commits fn's writes and returns nil, or commits
// nothing and returns an error: a context cancelled while Update runs
// never leaves the outcome unreported (a commit under way is finished and
// reported as a success) nor the back-end unable to take the next write.
type Driver interface {
	Reader
	// ListProducts returns the products matching q, sorted as q says,
	// from q.Offset, at most q.Limit of them, with the number of all
	// that match; one snapshot.
	ListProducts(ctx context.Context, q ProductList) (items []*product.Product, total int, err error)
	// ListVersions returns the versions of a product, oldest first (by
	// CreatedAt, then ID), optionally only those with a content hash;
	// ErrNotFound when there is no such product.
	ListVersions(ctx context.Context, productID, contentHash string) ([]*product.Version, error)
	// ListTemplates returns every template, by ID.
	ListTemplates(ctx context.Context) ([]*Template, error)
	// ListDeployments returns the deployments matching q, by name.
	ListDeployments(ctx context.Context, q DeploymentQuery) ([]*Deployment, error)
	// ListEvents returns a deployment's events as EventQuery says;
	// ErrNotFound when there is no such deployment.
	ListEvents(ctx context.Context, deployment string, q EventQuery) ([]Event, error)
	// Update runs fn in a write transaction and commits it when fn
	// returns nil. A driver may run fn again after a transient failure
	// (a busy database, a serialization failure); fn must then do the
	// same work from scratch. opts may be nil.
	Update(ctx context.Context, opts *TxOptions, fn func(Tx) error) error
	// Close releases the driver's resources; calls after it fail with
	// ErrClosed.
	Close() error
}

// ProductList is a ListProducts query as a driver receives it, checked
// and with its defaults applied.
type ProductList struct {
	Name   string // exact name, or empty
	Text   string // lower-cased substring of SearchText, or empty
	Offset int
	Limit  int
	Newest bool // newest first; else oldest first (by CreatedAt, then ID)
}

// TxOptions qualify a write transaction.
type TxOptions struct {
	// Urgent marks a small write that must not wait behind bulk writes:
	// lease renewals. A driver gives it its own connection or lets it
	// pass writers that are queued.
	Urgent bool
}

// Reader reads one record by its key. Each method returns ErrNotFound
// when the record does not exist.
type Reader interface {
	// Product returns the product with ID id.
	Product(ctx context.Context, id string) (*product.Product, error)
	// ProductByName returns the product called name.
	ProductByName(ctx context.Context, name string) (*product.Product, error)
	// Version returns the version with ID id.
	Version(ctx context.Context, id string) (*product.Version, error)
	// Template returns the template with ID id.
	Template(ctx context.Context, id string) (*Template, error)
	// Deployment returns the deployment called name.
	Deployment(ctx context.Context, name string) (*Deployment, error)
	// Lease returns the lease on a deployment, as stored (Expired is
	// not set).
	Lease(ctx context.Context, deployment string) (*Lease, error)
}

// Tx is a write transaction of a Driver. It sees its own writes. Its
// methods are called from one goroutine and only while fn of
// Driver.Update runs.
type Tx interface {
	Reader
	// InUse returns the name of a deployment of productID (when not
	// empty), or running or moving to versionID (when not empty); empty
	// when there is none.
	InUse(ctx context.Context, productID, versionID string) (string, error)

	// InsertProduct stores a new product (ErrAlreadyExists for a taken
	// ID or name). SearchText(p) is what ProductList.Text matches.
	InsertProduct(ctx context.Context, p *product.Product) error
	// UpdateProduct replaces the product p.ID if its stored revision is
	// revision (ErrConflict otherwise, ErrNotFound when it is gone,
	// ErrAlreadyExists when p.Name is another product's).
	UpdateProduct(ctx context.Context, p *product.Product, revision int64) error
	// DeleteProduct deletes a product and its versions.
	DeleteProduct(ctx context.Context, id string) error

	// InsertVersion stores a new version (ErrAlreadyExists for a taken
	// ID, or a name its product already has).
	InsertVersion(ctx context.Context, v *product.Version) error
	// UpdateVersion replaces a version whose stored revision is
	// revision (ErrConflict otherwise).
	UpdateVersion(ctx context.Context, v *product.Version, revision int64) error
	// DeleteVersion deletes a version.
	DeleteVersion(ctx context.Context, id string) error

	// InsertTemplate stores a new template (ErrAlreadyExists for a
	// taken ID).
	InsertTemplate(ctx context.Context, t *Template) error
	// UpdateTemplate rewrites a template as it is stored (Store.Reseal
	// re-seals its spec; templates are otherwise immutable).
	UpdateTemplate(ctx context.Context, t *Template) error

	// InsertDeployment stores a new deployment (ErrAlreadyExists for a
	// taken name).
	InsertDeployment(ctx context.Context, d *Deployment) error
	// UpdateDeployment replaces a deployment whose stored revision is
	// revision (ErrConflict otherwise).
	UpdateDeployment(ctx context.Context, d *Deployment, revision int64) error
	// DeleteDeployment deletes a deployment, its events and its lease.
	DeleteDeployment(ctx context.Context, name string) error
	// AppendEvents appends events to a deployment's log, numbering them
	// on from the last Seq the deployment ever had (1 for its first);
	// ErrNotFound when there is no such deployment. The events' other
	// fields are stored as given.
	AppendEvents(ctx context.Context, deployment string, events []Event) error

	// PutLease stores l in place of prev, the lease read in this
	// transaction (nil when there was none). It fails with ErrConflict
	// when the stored lease is no longer prev: another transaction took
	// or changed it meanwhile.
	PutLease(ctx context.Context, l, prev *Lease) error
	// DeleteLease deletes the lease prev, read in this transaction
	// (ErrConflict when it changed meanwhile).
	DeleteLease(ctx context.Context, prev *Lease) error
}

// Clock is implemented by a Driver, and by its Tx, whose back-end has a
// clock of its own that every process sharing it should judge leases
// by: a database server's. Now returns that clock's time; a driver that
// has none returns errors.ErrUnsupported, and Store uses Options.Now.
type Clock interface {
	Now(ctx context.Context) (time.Time, error)
}

// Notifier is implemented by a Driver shared between processes that can
// tell each of them about the changes the others commit (PostgreSQL's
// LISTEN/NOTIFY). Store uses it to wake subscribers in every process;
// without it, subscribers see the changes made through their own Store.
type Notifier interface {
	// Listen calls fn with the key given to Notify of every change
	// committed by any process, until ctx is done; also with "" when
	// notifications may have been missed (a lost connection), which
	// means any key. It returns errors.ErrUnsupported when the back-end
	// cannot notify, and otherwise only once ctx is done.
	Listen(ctx context.Context, fn func(key string)) error
}

// TxNotifier is implemented by the Tx of a Notifier: Notify sends key to
// the listeners of every process once the transaction commits, and never
// if it does not.
type TxNotifier interface {
	Notify(ctx context.Context, key string) error
}
