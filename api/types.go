package api

import (
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// Request bodies. Unknown fields are rejected.

// ProductUpdate is the body of PATCH /api/products/{product}: the fields
// to change. Absent fields stay as they are; "tags": {} clears the tags.
type ProductUpdate struct {
	Name         *string             `json:"product_name,omitempty"`
	ProviderName *string             `json:"provider_name,omitempty"`
	Description  *string             `json:"description,omitempty"`
	ProductType  *string             `json:"product_type,omitempty"`
	Visibility   *product.Visibility `json:"visibility,omitempty"`
	Tags         map[string]string   `json:"tags,omitempty"`
	// Revision, when set, must be the product's current revision (else
	// 409), so that concurrent editors do not overwrite each other.
	Revision int64 `json:"revision,omitempty"`
}

// VersionCreate is the body of POST /api/products/{product}/versions:
// the spec inline (stack_deps) or by reference (template_url).
type VersionCreate struct {
	Name        string           `json:"version_name"`
	Description string           `json:"description,omitempty"`
	Guidance    product.Guidance `json:"guidance,omitempty"`
	// Active defaults to true.
	Active      *bool      `json:"active,omitempty"`
	StackDeps   stack.Deps `json:"stack_deps,omitempty"`
	TemplateURL string     `json:"template_url,omitempty"`
}

// VersionUpdate is the body of PATCH /api/versions/{version}. Only these
// fields of a version ever change.
type VersionUpdate struct {
	Guidance    *product.Guidance `json:"guidance,omitempty"`
	Active      *bool             `json:"active,omitempty"`
	Description *string           `json:"description,omitempty"`
	// Revision, when set, must be the version's current revision.
	Revision int64 `json:"revision,omitempty"`
}

// TemplateCreate is the body of POST /api/templates.
type TemplateCreate struct {
	Description string     `json:"description,omitempty"`
	StackDeps   stack.Deps `json:"stack_deps"`
}

// LaunchRequest is the body of POST /api/deployments.
type LaunchRequest struct {
	// Name names the deployment: a DNS-1123 label.
	Name      string `json:"name"`
	VersionID string `json:"product_version_id"`
	// Policy is "fail-fast" (the default), "continue" or "rollback".
	Policy string `json:"policy,omitempty"`
	// Vars and ConfigTemplates render config files (see package deploy);
	// the deployment keeps them for later operations.
	Vars            map[string]string `json:"vars,omitempty"`
	ConfigTemplates map[string]string `json:"config_templates,omitempty"`
}

// UpdateRequest is the body of POST /api/deployments/{name}/update.
// Absent vars and config templates keep the deployment's.
type UpdateRequest struct {
	VersionID       string            `json:"product_version_id"`
	Policy          string            `json:"policy,omitempty"`
	Vars            map[string]string `json:"vars,omitempty"`
	ConfigTemplates map[string]string `json:"config_templates,omitempty"`
}

// ReconcileRequest is the body of PUT /api/deployments/{name}/reconcile:
// whether a server running with a reconciler (serve --reconcile) leaves
// the deployment alone whatever drifts.
type ReconcileRequest struct {
	Paused bool `json:"paused"`
}

// PreviewRequest is the body of POST /api/deployments/{name}/preview:
// the version to preview, or a spec that is not (yet) a stored version
// (stack_deps, as a version holds them), with the config templates and
// variables the update would get (the recorded ones when left out).
type PreviewRequest struct {
	VersionID       string            `json:"product_version_id,omitempty"`
	StackDeps       stack.Deps        `json:"stack_deps,omitempty"`
	Vars            map[string]string `json:"vars,omitempty"`
	ConfigTemplates map[string]string `json:"config_templates,omitempty"`
}

// TerminateRequest is the body of POST /api/deployments/{name}/terminate;
// it may be empty.
type TerminateRequest struct {
	// DeleteData deletes the deployment's volumes too.
	DeleteData bool   `json:"delete_data,omitempty"`
	Policy     string `json:"policy,omitempty"`
}

// StackRequest is the body of the restart, stop and start routes of a
// stack; it may be empty.
type StackRequest struct {
	Policy string `json:"policy,omitempty"`
}

// ScaleRequest is the body of POST
// /api/deployments/{name}/stacks/{stack}/services/{service}/scale.
type ScaleRequest struct {
	// Instances is required: 0 to validate.MaxInstances.
	Instances *int `json:"instances"`
}

// Response bodies. Every one carries the request's ID.

// CreateProductResponse answers POST /api/products.
type CreateProductResponse struct {
	ProductID string `json:"product_id"`
	VersionID string `json:"product_version_id"`
	RequestID string `json:"request_id"`
}

// ProductList answers GET /api/products.
type ProductList struct {
	Products   []*product.Product `json:"products"`
	Total      int                `json:"total"`
	PageNumber int                `json:"page_number"`
	PageSize   int                `json:"page_size"`
	RequestID  string             `json:"request_id"`
}

// ProductResponse answers GET and PATCH /api/products/{product}; GET
// lists the product's versions too.
type ProductResponse struct {
	Product   *product.Product   `json:"product"`
	Versions  []*product.Version `json:"versions,omitempty"`
	RequestID string             `json:"request_id"`
}

// DeleteProductResponse answers DELETE /api/products/{product}.
type DeleteProductResponse struct {
	ProductID string `json:"product_id"`
	RequestID string `json:"request_id"`
}

// VersionResponse answers the version routes that return one version.
type VersionResponse struct {
	VersionID string           `json:"product_version_id"`
	Version   *product.Version `json:"version"`
	RequestID string           `json:"request_id"`
}

// VersionList answers GET /api/products/{product}/versions.
type VersionList struct {
	Versions  []*product.Version `json:"versions"`
	RequestID string             `json:"request_id"`
}

// DeleteVersionResponse answers DELETE /api/versions/{version}.
type DeleteVersionResponse struct {
	VersionID string `json:"product_version_id"`
	RequestID string `json:"request_id"`
}

// TemplateResponse answers POST /api/templates and GET
// /api/templates/{template}.
type TemplateResponse struct {
	TemplateID  string          `json:"template_id"`
	TemplateURL string          `json:"template_url"`
	Template    *store.Template `json:"template"`
	RequestID   string          `json:"request_id"`
}

// Submitted answers the routes that start an operation (launch, update,
// terminate, restart, stop, start, scale). The operation goes on in the
// server; follow it with GET /api/deployments/{name}/events or
// /operations/{operation}.
type Submitted struct {
	OperationID string `json:"operation_id"`
	Deployment  string `json:"deployment"`
	RequestID   string `json:"request_id"`
}

// PreviewResponse answers POST /api/deployments/{name}/preview: what an
// update (or, for a new deployment, a launch) to the version would
// change, as data and as the text the CLI prints.
type PreviewResponse struct {
	Changes   *deploy.ChangeSet `json:"changes"`
	Text      string            `json:"text"`
	RequestID string            `json:"request_id"`
}

// DeploymentResponse answers GET /api/deployments/{name}: the record
// rolled up with what the runtime observes (stacks, services, endpoints)
// and the last operation.
type DeploymentResponse struct {
	Deployment *deploy.Status `json:"deployment"`
	RequestID  string         `json:"request_id"`
}

// DeploymentSummary is a deployment in a listing. Parameters (template
// variables and config templates) are left out: they may hold secrets.
type DeploymentSummary struct {
	Name            string           `json:"name"`
	ProductID       string           `json:"product_id"`
	VersionID       string           `json:"product_version_id"`
	TargetVersionID string           `json:"target_version_id,omitempty"`
	Runtime         string           `json:"runtime,omitempty"`
	Status          store.Status     `json:"status"`
	LastOperation   *store.Operation `json:"last_operation,omitempty"`
	CreatedAt       time.Time        `json:"created_at"`
	UpdatedAt       time.Time        `json:"updated_at"`
	Revision        int64            `json:"revision"`
}

// DeploymentList answers GET /api/deployments.
type DeploymentList struct {
	Deployments []DeploymentSummary `json:"deployments"`
	RequestID   string              `json:"request_id"`
}

// DeleteDeploymentResponse answers DELETE /api/deployments/{name}.
type DeleteDeploymentResponse struct {
	Deployment string `json:"deployment"`
	RequestID  string `json:"request_id"`
}

// OperationList answers GET /api/deployments/{name}/operations: the
// history, oldest first, as far as the store keeps it.
type OperationList struct {
	Operations []store.Operation `json:"operations"`
	RequestID  string            `json:"request_id"`
}

// OperationResponse answers GET
// /api/deployments/{name}/operations/{operation}.
type OperationResponse struct {
	Operation *store.Operation `json:"operation"`
	RequestID string           `json:"request_id"`
}

// Event is the data of one Server-Sent Event of GET
// /api/deployments/{name}/events; its SSE id is Seq.
type Event struct {
	Deployment string `json:"deployment"`
	store.Event
}

func summarize(d *store.Deployment) DeploymentSummary {
	return DeploymentSummary{
		Name: d.Name, ProductID: d.ProductID, VersionID: d.VersionID, TargetVersionID: d.TargetVersionID,
		Runtime: d.Runtime, Status: d.Status, LastOperation: d.LastOperation(),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Revision: d.Revision,
	}
}
