package api

// Action names, one for every route. Policies name them, with wildcards
// ("stackwave:Get*", "stackwave:*").
const (
	ActionCreateProduct = "stackwave:CreateProduct"
	ActionListProducts  = "stackwave:ListProducts"
	ActionGetProduct    = "stackwave:GetProduct"
	ActionUpdateProduct = "stackwave:UpdateProduct"
	ActionDeleteProduct = "stackwave:DeleteProduct"

	ActionCreateVersion = "stackwave:CreateVersion"
	ActionListVersions  = "stackwave:ListVersions"
	ActionGetVersion    = "stackwave:GetVersion"
	ActionUpdateVersion = "stackwave:UpdateVersion"
	ActionDeleteVersion = "stackwave:DeleteVersion"

	ActionCreateTemplate = "stackwave:CreateTemplate"
	ActionGetTemplate    = "stackwave:GetTemplate"

	ActionListDeployments     = "stackwave:ListDeployments"
	ActionLaunchProduct       = "stackwave:LaunchProduct"
	ActionPreviewDeployment   = "stackwave:PreviewDeployment"
	ActionGetDeployment       = "stackwave:GetDeployment"
	ActionUpdateDeployment    = "stackwave:UpdateDeployment"
	ActionTerminateDeployment = "stackwave:TerminateDeployment"
	ActionDeleteDeployment    = "stackwave:DeleteDeployment"
	ActionRestartStack        = "stackwave:RestartStack"
	ActionStopStack           = "stackwave:StopStack"
	ActionStartStack          = "stackwave:StartStack"
	ActionScaleService        = "stackwave:ScaleService"
	ActionListOperations      = "stackwave:ListOperations"
	ActionGetOperation        = "stackwave:GetOperation"
	ActionStreamEvents        = "stackwave:StreamEvents"
	// ActionReadLogs reads what a deployment's services write: kept
	// apart from GetDeployment, as output may hold what status does not.
	ActionReadLogs            = "stackwave:ReadLogs"
	ActionReconcileDeployment = "stackwave:ReconcileDeployment"

	// ActionReadMetrics reads the server's metrics (GET /metrics, when
	// Options.Metrics is set), on MetricsResource: kept apart from the
	// catalog and deployment actions, so that a scraper's principal may
	// read them and nothing else.
	ActionReadMetrics = "stackwave:ReadMetrics"
)

// Resource names. Policies name them, with wildcards ("swn:product/*").
const (
	ResourcePrefix = "swn:"
	// AllProducts, AllTemplates and AllDeployments are the resources of
	// the routes that create or list them.
	AllProducts    = "swn:product/*"
	AllTemplates   = "swn:template/*"
	AllDeployments = "swn:deployment/*"
	// MetricsResource is the resource of GET /metrics.
	MetricsResource = "swn:metrics"
)

// ProductResource returns "swn:product/<id>".
func ProductResource(id string) string { return "swn:product/" + id }

// VersionResource returns "swn:version/<id>".
func VersionResource(id string) string { return "swn:version/" + id }

// TemplateResource returns "swn:template/<id>".
func TemplateResource(id string) string { return "swn:template/" + id }

// DeploymentResource returns "swn:deployment/<name>".
func DeploymentResource(name string) string { return "swn:deployment/" + name }
