// Package store defines where stackwave keeps its catalog and deployment
// records: products, their immutable versions, stack_deps templates,
// deployments with their operation history and event logs, and the leases
// that say which control-plane replica is changing a deployment.
//
// A Store is implemented by drivers: store/memory for tests and embedders'
// unit tests, store/sqlite (the embedded default, pure Go) and
// store/postgres for control planes with several replicas. Every driver
// passes the same conformance suite, store/storetest, and store/storeurl
// opens any of them from a string such as "sqlite:/var/lib/stackwave.db".
//
// # Contract
//
// Methods may be called concurrently from many goroutines and, for the
// sqlite and postgres drivers, from many processes sharing one database.
// Every method that does I/O takes a context; a cancelled context makes it
// return promptly with the context's error and leaves no partial write.
//
// Records are returned as fresh copies: changing a returned value never
// changes the store. Every record carries a Revision, 1 when created and
// one more on every update. An update must carry the revision it was read
// at; a stale one fails with ErrConflict and changes nothing.
//
// Errors match the sentinels of errors.go with errors.Is: ErrNotFound,
// ErrAlreadyExists, ErrConflict, ErrInUse, ErrLeaseHeld, and ErrInvalid
// for bad input (an *InvalidError naming the field and value). A write
// either happens whole or not at all.
package store

import (
	"context"
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
)

// Store is the catalog and deployment record back-end.
type Store interface {
	Products
	Versions
	Templates
	Deployments
	Leases
	// Close releases the store's resources. Calls after Close fail.
	Close() error
}

// Products keeps the product catalog.
type Products interface {
	// CreateProduct stores a new product. An empty ID is replaced with a
	// new one (product.NewProductID); an empty Visibility means private.
	// Names are unique in the store, also under concurrent creates from
	// several processes: exactly one wins, the others get
	// ErrAlreadyExists. CreatedAt, UpdatedAt and Revision (1) are set by
	// the store; the stored record is returned.
	CreateProduct(ctx context.Context, p *product.Product) (*product.Product, error)
	// GetProduct returns the product with the given ID, or with the
	// given name when no ID matches; ErrNotFound when neither does.
	GetProduct(ctx context.Context, idOrName string) (*product.Product, error)
	// ListProducts returns one page of products.
	ListProducts(ctx context.Context, q ProductQuery) (*ProductPage, error)
	// UpdateProduct replaces the mutable fields of a product (name,
	// provider name, description, product type, visibility, tags).
	// p.Revision must be the stored revision, else ErrConflict.
	UpdateProduct(ctx context.Context, p *product.Product) (*product.Product, error)
	// DeleteProduct deletes a product and its versions. It fails with
	// ErrInUse while a deployment of the product exists.
	DeleteProduct(ctx context.Context, id string) error
}

// ProductQuery selects a page of products.
type ProductQuery struct {
	// Name filters by exact name.
	Name string
	// Text filters by a case-insensitive substring of the name,
	// provider name or description.
	Text string
	// Page is the page number, from 1; zero means 1. A page past the
	// last one is empty.
	Page int
	// PageSize is 1 to MaxPageSize; zero means DefaultPageSize. Other
	// values, and a negative Page, fail with ErrInvalid.
	PageSize int
	// Newest sorts by creation time, newest first; the default is oldest
	// first. Ties are broken by ID.
	Newest bool
}

// Paging limits.
const (
	DefaultPageSize = 10
	MaxPageSize     = 100
)

// ProductPage is one page of a product listing.
type ProductPage struct {
	Items    []*product.Product
	Total    int // products matching the query, on all pages
	Page     int
	PageSize int
}

// Versions keeps the immutable versions of products.
type Versions interface {
	// CreateVersion stores a new version of v.ProductID (ErrNotFound if
	// there is no such product). An empty ID is replaced with a new one;
	// an empty Guidance means Default. When v.TemplateURL is set and
	// v.StackDeps is empty, the spec is copied from that template
	// (ErrNotFound if it does not exist). ContentHash is computed by the
	// store with product.Hash. Version names are unique per product
	// (ErrAlreadyExists).
	CreateVersion(ctx context.Context, v *product.Version) (*product.Version, error)
	// GetVersion returns a version by ID.
	GetVersion(ctx context.Context, id string) (*product.Version, error)
	// ListVersions returns the versions of a product, oldest first,
	// optionally only those with the given content hash.
	ListVersions(ctx context.Context, productID string, q VersionQuery) ([]*product.Version, error)
	// UpdateVersion changes the mutable fields of a version: Guidance,
	// Active and Description. Everything else is immutable: a change to
	// it fails with ErrInvalid. v.Revision must match (ErrConflict).
	UpdateVersion(ctx context.Context, v *product.Version) (*product.Version, error)
	// DeleteVersion deletes a version. It fails with ErrInUse while a
	// deployment runs it or is being moved to it.
	DeleteVersion(ctx context.Context, id string) error
}

// VersionQuery filters ListVersions.
type VersionQuery struct {
	// ContentHash, when set, selects the versions with this spec.
	ContentHash string
}

// Templates keeps stack_deps specs on their own, so versions can refer to
// them by URL.
type Templates interface {
	// CreateTemplate stores a spec and returns it with its ID and its
	// reference URL ("stackwave://templates/tpl-...").
	CreateTemplate(ctx context.Context, t *Template) (*Template, error)
	// GetTemplate returns a template by ID or URL.
	GetTemplate(ctx context.Context, idOrURL string) (*Template, error)
}

// Template is a stored stack_deps spec.
type Template struct {
	ID          string     `json:"template_id"`
	URL         string     `json:"template_url"`
	Description string     `json:"description,omitempty"`
	StackDeps   stack.Deps `json:"stack_deps"`
	ContentHash string     `json:"content_hash"`
	CreatedAt   time.Time  `json:"created_at"`
}

// TemplateURLPrefix starts every template URL.
const TemplateURLPrefix = "stackwave://templates/"

// Deployments keeps deployment records and their event logs.
type Deployments interface {
	// CreateDeployment stores a new deployment. Names are DNS-1123
	// labels, unique in the store (ErrAlreadyExists). The product and
	// version must exist, the version (and TargetVersionID, when set)
	// being one of that product's (ErrNotFound). An empty Status means
	// StatusUnderChange. CreatedAt, UpdatedAt and Revision (1) are set by
	// the store, and the history is capped as by UpdateDeployment.
	CreateDeployment(ctx context.Context, d *Deployment) (*Deployment, error)
	// GetDeployment returns a deployment by name.
	GetDeployment(ctx context.Context, name string) (*Deployment, error)
	// ListDeployments returns deployments sorted by name.
	ListDeployments(ctx context.Context, q DeploymentQuery) ([]*Deployment, error)
	// UpdateDeployment replaces a deployment record; d.Revision must be
	// the stored revision (ErrConflict). The product of a deployment
	// never changes (ErrInvalid); its versions must exist as for
	// CreateDeployment. The store keeps at most its configured number of
	// operations (DefaultMaxOperations unless a driver option says
	// otherwise), newest last, dropping the oldest.
	UpdateDeployment(ctx context.Context, d *Deployment) (*Deployment, error)
	// DeleteDeployment deletes a deployment record, its events and its
	// lease. revision must match (ErrConflict).
	DeleteDeployment(ctx context.Context, name string, revision int64) error
	// AppendEvents appends events to a deployment's log, in order, all
	// or none. The store assigns each a Seq, increasing per deployment;
	// a zero Time is set to the store's clock. Each event needs an
	// OperationID and a Type (ErrInvalid); the deployment must exist
	// (ErrNotFound). Events are never changed once appended.
	AppendEvents(ctx context.Context, deployment string, events ...Event) error
	// ListEvents returns a deployment's events with Seq > q.AfterSeq, in
	// order, at most q.Limit of them (zero: all), optionally only those of
	// one operation. The deployment must exist (ErrNotFound).
	ListEvents(ctx context.Context, deployment string, q EventQuery) ([]Event, error)
}

// DefaultMaxOperations is how many operations a deployment's history
// keeps unless a driver is configured otherwise.
const DefaultMaxOperations = 50

// DeploymentQuery filters ListDeployments.
type DeploymentQuery struct {
	ProductID string
	VersionID string
	Status    Status
}

// EventQuery selects events of a deployment.
type EventQuery struct {
	OperationID string
	AfterSeq    int64
	Limit       int
}

// Status is the state of a deployment as a whole.
type Status string

// Deployment statuses.
const (
	// StatusUnderChange: an operation is in progress.
	StatusUnderChange Status = "UnderChange"
	// StatusAvailable: the last operation succeeded.
	StatusAvailable Status = "Available"
	// StatusError: the last operation failed; what ran is kept.
	StatusError Status = "Error"
	// StatusTainted: the last operation failed and was rolled back.
	StatusTainted Status = "Tainted"
	// StatusTerminated: the deployment was torn down; its record is
	// kept until deleted.
	StatusTerminated Status = "Terminated"
)

// Deployment is an instance of a product version on a runtime.
type Deployment struct {
	Name      string `json:"name"`
	ProductID string `json:"product_id"`
	VersionID string `json:"product_version_id"`
	// TargetVersionID is the version an operation in progress moves to;
	// empty when none is.
	TargetVersionID string            `json:"target_version_id,omitempty"`
	Runtime         string            `json:"runtime,omitempty"`
	Parameters      map[string]string `json:"parameters,omitempty"`
	Status          Status            `json:"status"`
	Stacks          []StackState      `json:"stacks,omitempty"`
	// Operations is the history, oldest first, capped by the store.
	Operations []Operation `json:"operations,omitempty"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
	Revision   int64       `json:"revision"`
}

// LastOperation returns the newest operation, or nil.
func (d *Deployment) LastOperation() *Operation {
	if len(d.Operations) == 0 {
		return nil
	}
	return &d.Operations[len(d.Operations)-1]
}

// Operation returns the operation with the given ID, or nil.
func (d *Deployment) Operation(id string) *Operation {
	for i := range d.Operations {
		if d.Operations[i].ID == id {
			return &d.Operations[i]
		}
	}
	return nil
}

// Stack returns the state of the named stack, or nil.
func (d *Deployment) Stack(name string) *StackState {
	for i := range d.Stacks {
		if d.Stacks[i].Name == name {
			return &d.Stacks[i]
		}
	}
	return nil
}

// StackState is the recorded state of one stack of a deployment.
type StackState struct {
	Name  string `json:"stack_name"`
	Tier  int    `json:"tier"`
	State string `json:"state"`
	// ConfigHash identifies the spec the stack was last applied with.
	ConfigHash string    `json:"config_hash,omitempty"`
	Message    string    `json:"message,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// OpType is the kind of an operation.
type OpType string

// Operation types.
const (
	OpLaunch    OpType = "launch"
	OpUpdate    OpType = "update"
	OpTerminate OpType = "terminate"
	OpRestart   OpType = "restart"
	OpStop      OpType = "stop"
	OpStart     OpType = "start"
	OpScale     OpType = "scale"
)

// OpStatus is the state of an operation.
type OpStatus string

// Operation statuses.
const (
	OpInProgress OpStatus = "InProgress"
	OpSucceeded  OpStatus = "Succeeded"
	OpFailed     OpStatus = "Failed"
)

// Operation is one change made to a deployment.
type Operation struct {
	ID            string    `json:"operation_id"`
	Type          OpType    `json:"type"`
	Status        OpStatus  `json:"status"`
	FromVersionID string    `json:"from_version_id,omitempty"`
	ToVersionID   string    `json:"to_version_id,omitempty"`
	Policy        string    `json:"policy,omitempty"`
	Stack         string    `json:"stack_name,omitempty"`
	Service       string    `json:"service_name,omitempty"`
	Instances     int       `json:"instances,omitempty"`
	DeleteData    bool      `json:"delete_data,omitempty"`
	Owner         string    `json:"owner,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	EndedAt       time.Time `json:"ended_at,omitzero"`
	Message       string    `json:"message,omitempty"`
}

// Event is one entry of a deployment's append-only event log.
type Event struct {
	// Seq is assigned by the store: 1, 2, ... per deployment.
	Seq         int64     `json:"seq"`
	OperationID string    `json:"operation_id"`
	Time        time.Time `json:"time"`
	Type        string    `json:"type"`
	Stack       string    `json:"stack_name,omitempty"`
	Service     string    `json:"service_name,omitempty"`
	Message     string    `json:"message,omitempty"`
}

// Leases say which owner (a control-plane replica) may change a
// deployment. A lease has an expiry: an owner that dies mid-operation
// never locks a deployment for longer than its lease.
type Leases interface {
	// AcquireLease takes or renews the lease on a deployment for ttl. It
	// succeeds when the deployment has no lease, when its lease expired,
	// or when owner already holds it (a renewal); otherwise it fails with
	// ErrLeaseHeld, wrapped in a *LeaseHeldError naming the holder and
	// expiry. The deployment need not exist. Expiry is judged by the
	// store's clock (the database server's, for postgres), so replicas
	// with skewed clocks agree.
	AcquireLease(ctx context.Context, deployment, owner string, ttl time.Duration) (*Lease, error)
	// ReleaseLease gives up a lease held by owner. Releasing a lease that
	// owner does not hold (expired and taken, or never held) fails with
	// ErrLeaseHeld or ErrNotFound and changes nothing.
	ReleaseLease(ctx context.Context, deployment, owner string) error
	// GetLease returns the current lease on a deployment, expired or not;
	// ErrNotFound when there is none.
	GetLease(ctx context.Context, deployment string) (*Lease, error)
}

// Lease is a time-bounded claim on a deployment.
type Lease struct {
	Deployment string    `json:"deployment"`
	Owner      string    `json:"owner"`
	AcquiredAt time.Time `json:"acquired_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Expired reports whether the lease had expired when it was read.
	Expired bool `json:"expired"`
}
