// Package store keeps stackwave's catalog and deployment records:
// products, their immutable versions, stack_deps templates, deployments
// with their operation history and event logs, and the leases that say
// which control-plane replica is changing a deployment.
//
// A [Store] is the portable front that every caller holds; it keeps the
// rules (IDs, validation, content hashes, template copies, the history
// cap, reference checks, revisions, lease judgement, sealed secrets) and
// hands records to a [Driver] that only persists them: store/memory for
// tests and embedders' unit tests, store/sqlite (the embedded default,
// pure Go) and store/postgres for control planes with several replicas.
// Every driver passes the same conformance suite, store/storetest, and
// store/storeurl opens any of them from a string such as
// "sqlite:/var/lib/stackwave.db".
//
// # Contract
//
// Methods may be called concurrently from many goroutines and, for the
// sqlite and postgres drivers, from many processes sharing one database.
// Every method that does I/O takes a context; a cancelled context makes it
// return promptly with the context's error. A write either happens whole
// and returns nil, or does not happen and returns an error: a write whose
// context ends while it commits reports what happened, never an error for
// a write that was made.
//
// Records are returned as fresh copies: changing a returned value never
// changes the store. Every record carries a Revision, 1 when created and
// one more on every update. An update must carry the revision it was read
// at; a stale one fails with ErrConflict and changes nothing.
//
// Errors match the sentinels of errors.go with errors.Is: ErrNotFound,
// ErrAlreadyExists, ErrConflict, ErrInUse, ErrLeaseHeld, ErrClosed, and
// ErrInvalid for bad input (an *InvalidError naming the field and value).
//
// # Registration
//
// [Store.Register] writes a product and its first version in one
// transaction, so a crash never leaves a product that cannot be launched;
// a retried registration of the same document answers the records the
// first one made.
//
// # Events
//
// [Store.SubscribeEvents] follows a deployment's event log as it grows:
// appends and record changes wake subscribers at once, in every process
// sharing the database when the driver is a [Notifier] (PostgreSQL), in
// the writing process otherwise (memory, SQLite).
//
// [Store.UpdateDeployment] with [WithEvents] writes a record and appends
// events in one transaction, and with [ReleasingLease] releases its
// writer's lease in it too: a reader sees all of it or none, also after
// a crash. The executor ends an operation this way, so that an
// operation's last event, the record that says it ended and the free
// lease are never seen apart; it renews its lease with
// [Store.RenewLease], which never takes a released lease again.
//
// # Secrets at rest
//
// With a [Keyring] in Options.Keys, the values of services' envs (in
// versions and templates) and the launch variables of deployments
// (parameters under [VarParamPrefix]) are sealed with AES-GCM before they
// reach the driver, and opened when read. [Store.Reseal] rewrites them
// under the keyring's current key after a rotation.
package store

import (
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
)

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

// VersionQuery filters ListVersions.
type VersionQuery struct {
	// ContentHash, when set, selects the versions with this spec.
	ContentHash string
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
	// VolumeStacks names, sorted, the stacks whose volumes may exist on
	// the runtime: every stack applied with volumes, recorded before
	// they are created, until it is removed with its data. Stacks that
	// an update removed keep their volumes and stay listed, so that
	// Terminate with DeleteData finds them.
	VolumeStacks []string `json:"volume_stacks,omitempty"`
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
	ID            string   `json:"operation_id"`
	Type          OpType   `json:"type"`
	Status        OpStatus `json:"status"`
	FromVersionID string   `json:"from_version_id,omitempty"`
	ToVersionID   string   `json:"to_version_id,omitempty"`
	Policy        string   `json:"policy,omitempty"`
	Stack         string   `json:"stack_name,omitempty"`
	Service       string   `json:"service_name,omitempty"`
	Instances     int      `json:"instances,omitempty"`
	DeleteData    bool     `json:"delete_data,omitempty"`
	// NewVolumeStacks names, sorted, the stacks of a launch or update
	// whose volumes the operation creates: stacks with volumes that had
	// none when it started. It is recorded before anything is created,
	// and a rollback, resumed or not, deletes the data of these stacks
	// and of no other.
	NewVolumeStacks []string  `json:"new_volume_stacks,omitempty"`
	Owner           string    `json:"owner,omitempty"`
	StartedAt       time.Time `json:"started_at"`
	EndedAt         time.Time `json:"ended_at,omitzero"`
	Message         string    `json:"message,omitempty"`
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

// Lease is a time-bounded claim on a deployment.
type Lease struct {
	Deployment string    `json:"deployment"`
	Owner      string    `json:"owner"`
	AcquiredAt time.Time `json:"acquired_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Expired reports whether the lease had expired when it was read.
	Expired bool `json:"expired"`
}
