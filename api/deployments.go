package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

func (s *Server) listDeployments(c *call) error {
	if err := c.authorize(AllDeployments); err != nil {
		return err
	}
	q := c.q
	statuses := []store.Status{store.StatusUnderChange, store.StatusAvailable, store.StatusError, store.StatusTainted, store.StatusTerminated}
	status := store.Status(q.Get("status"))
	if status != "" && !slices.Contains(statuses, status) {
		return invalid("status", TypeNotSupported, fmt.Sprintf("supported values: %q", statuses))
	}
	deps, err := s.st.ListDeployments(c.r.Context(), store.DeploymentQuery{
		ProductID: q.Get("product_id"), VersionID: q.Get("product_version_id"), Status: status,
	})
	if err != nil {
		return err
	}
	deps = visibleDeployments(c, deps)
	out := make([]DeploymentSummary, len(deps))
	for i, d := range deps {
		out[i] = summarize(d)
	}
	return c.ok(DeploymentList{Deployments: out, RequestID: c.id})
}

// launch starts a deployment of a product version. The caller needs
// stackwave:LaunchProduct on the deployment and on the version's product.
func (s *Server) launch(c *call) error {
	var req LaunchRequest
	if err := c.decode(&req, false); err != nil {
		return err
	}
	if err := validate.Parameters(req.Vars, req.ConfigTemplates); err != nil {
		return err
	}
	if fe := validate.DNSLabel("name", req.Name); fe != nil {
		return newError(http.StatusBadRequest, MsgInvalidRequest, fieldDetails(validate.ErrorList{fe})...)
	}
	if err := c.authorize(DeploymentResource(req.Name)); err != nil {
		return err
	}
	if _, err := s.productVersion(c, req.VersionID); err != nil {
		return err
	}
	policy, err := parsePolicy(req.Policy)
	if err != nil {
		return err
	}
	err = s.submit(c, store.OpLaunch, deploy.Request{
		Deployment: req.Name, VersionID: req.VersionID, Policy: policy,
		Vars: req.Vars, ConfigTemplates: req.ConfigTemplates,
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		// Neither the deployment's existence nor its status is told
		// to a caller who may not see it.
		if derr := c.takenFromView(DeploymentResource(req.Name), ActionGetDeployment, DeploymentResource(req.Name)); derr != nil {
			return derr
		}
	}
	return err
}

// productVersion reads the version a launch or update names and checks
// that the caller may perform the route's action on its product.
func (s *Server) productVersion(c *call, id string) (*product.Version, error) {
	if id == "" {
		return nil, invalid("product_version_id", TypeRequired, "must name the version to deploy")
	}
	v, err := s.st.GetVersion(c.r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return nil, notFound("version", id)
	}
	if err != nil {
		return nil, err
	}
	if err := c.authorize(ProductResource(v.ProductID)); err != nil {
		return nil, c.hide(err, "version", id, ActionGetVersion, VersionResource(v.ID))
	}
	return v, nil
}

func parsePolicy(s string) (deploy.Policy, error) {
	p, err := deploy.ParsePolicy(s)
	if err != nil {
		return "", invalid("policy", TypeNotSupported, `supported values: "fail-fast", "continue", "rollback"`)
	}
	return p, nil
}

// submit starts an operation and answers with its ID. The operation is
// recorded even if the client goes away meanwhile, and then runs in the
// executor, whatever the client does.
func (s *Server) submit(c *call, op store.OpType, req deploy.Request) error {
	wctx, cancel := c.writeContext()
	defer cancel()
	h, err := s.ex.Submit(wctx, op, req)
	if err != nil {
		return err
	}
	c.info("operation submitted", "principal", c.principal.Name,
		"deployment", h.Deployment, "operation_id", h.OperationID, "type", op)
	c.annotate(attrDeployment.String(h.Deployment), attrOperationID.String(h.OperationID))
	return c.ok(Submitted{OperationID: h.OperationID, Deployment: h.Deployment, RequestID: c.id})
}

// deploymentName returns the deployment the path names, once the caller
// may perform the route's action on it.
func (c *call) deploymentName() (string, error) {
	name := c.r.PathValue("name")
	if err := c.authorize(DeploymentResource(name)); err != nil {
		return "", c.hide(err, "deployment", name, ActionGetDeployment, DeploymentResource(name))
	}
	if fe := validate.DNSLabel("name", name); fe != nil {
		return "", notFound("deployment", name)
	}
	return name, nil
}

func (s *Server) getDeployment(c *call) error {
	name, err := c.deploymentName()
	if err != nil {
		return err
	}
	q, err := c.query("instances", "instance_offset", "instance_limit")
	if err != nil {
		return err
	}
	var opts []deploy.StatusOption
	switch q.Get("instances") {
	case "", "false":
	case "true":
		off, d1 := intParam(q, "instance_offset", 0, 0, math.MaxInt32)
		limit, d2 := intParam(q, "instance_limit", deploy.DefaultInstanceLimit, 1, deploy.MaxInstanceLimit)
		if d1 != nil || d2 != nil {
			var ds []Detail
			for _, d := range []*Detail{d1, d2} {
				if d != nil {
					ds = append(ds, *d)
				}
			}
			return newError(http.StatusBadRequest, MsgInvalidRequest, ds...)
		}
		opts = append(opts, deploy.WithInstances(off, limit))
	default:
		return invalid("instances", TypeInvalid, "must be true or false")
	}
	st, err := s.ex.Status(c.r.Context(), name, opts...)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("deployment", name)
	}
	if err != nil {
		return err
	}
	return c.ok(DeploymentResponse{Deployment: st, RequestID: c.id})
}

// setReconcile pauses or resumes the reconciliation of a deployment.
func (s *Server) setReconcile(c *call) error {
	name, err := c.deploymentName()
	if err != nil {
		return err
	}
	var req ReconcileRequest
	if err := c.decode(&req, false); err != nil {
		return err
	}
	err = s.ex.SetReconcilePaused(c.r.Context(), name, req.Paused)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("deployment", name)
	}
	if err != nil {
		return err
	}
	return s.getDeployment(c)
}

func (s *Server) preview(c *call) error {
	name, err := c.deploymentName()
	if err != nil {
		return err
	}
	var req PreviewRequest
	sh, err := c.decodeSpec(&req)
	if err != nil {
		return err
	}
	switch {
	case req.VersionID == "" && len(req.StackDeps) == 0:
		return invalid("product_version_id", TypeRequired, "must name the version to preview, or give stack_deps")
	case req.VersionID != "" && len(req.StackDeps) > 0:
		return invalid("stack_deps", TypeInvalid, "give either product_version_id or stack_deps, not both")
	}
	if err := validate.Parameters(req.Vars, req.ConfigTemplates); err != nil {
		return err
	}
	if len(req.StackDeps) > 0 {
		// Checked as a version created with it would be.
		opts := s.validateOptions()
		opts.Shorthands = sh
		if err := validate.Deps(req.StackDeps, opts); err != nil {
			if d, ok := invalidDetails(err); ok {
				return newError(http.StatusBadRequest, MsgInvalidRequest, d...)
			}
			return err
		}
	}
	cs, err := s.ex.PreviewChanges(c.r.Context(), deploy.Request{Deployment: name, VersionID: req.VersionID,
		Vars: req.Vars, ConfigTemplates: req.ConfigTemplates}, req.StackDeps)
	if err != nil {
		return err
	}
	return c.ok(PreviewResponse{Changes: cs, Text: cs.String(), RequestID: c.id})
}

// update moves a deployment to another version. The caller needs
// stackwave:UpdateDeployment on the deployment and on the version's
// product.
func (s *Server) update(c *call) error {
	name, err := c.deploymentName()
	if err != nil {
		return err
	}
	var req UpdateRequest
	if err := c.decode(&req, false); err != nil {
		return err
	}
	if err := validate.Parameters(req.Vars, req.ConfigTemplates); err != nil {
		return err
	}
	if _, err := s.productVersion(c, req.VersionID); err != nil {
		return err
	}
	policy, err := parsePolicy(req.Policy)
	if err != nil {
		return err
	}
	return s.submit(c, store.OpUpdate, deploy.Request{
		Deployment: name, VersionID: req.VersionID, Policy: policy,
		Vars: req.Vars, ConfigTemplates: req.ConfigTemplates,
	})
}

func (s *Server) terminate(c *call) error {
	name, err := c.deploymentName()
	if err != nil {
		return err
	}
	var req TerminateRequest
	if err := c.decode(&req, true); err != nil {
		return err
	}
	policy, err := parsePolicy(req.Policy)
	if err != nil {
		return err
	}
	return s.submit(c, store.OpTerminate, deploy.Request{Deployment: name, Policy: policy, DeleteData: req.DeleteData})
}

// deleteDeployment deletes the record of a terminated deployment, the
// last step before its product can be deleted.
func (s *Server) deleteDeployment(c *call) error {
	name, err := c.deploymentName()
	if err != nil {
		return err
	}
	d, err := s.st.GetDeployment(c.r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("deployment", name)
	}
	if err != nil {
		return err
	}
	if d.Status != store.StatusTerminated {
		return newError(http.StatusConflict, MsgConflict, Detail{Field: "status", Type: TypeConflict,
			Detail: fmt.Sprintf("deployment %s is %s: terminate it first", name, d.Status)})
	}
	wctx, cancel := c.writeContext()
	defer cancel()
	if err := s.st.DeleteDeployment(wctx, name, d.Revision); err != nil {
		return err
	}
	return c.ok(DeleteDeploymentResponse{Deployment: name, RequestID: c.id})
}

// stackOp returns the handler of a restart, stop or start of a stack.
func (s *Server) stackOp(op store.OpType) func(c *call) error {
	return func(c *call) error {
		name, err := c.deploymentName()
		if err != nil {
			return err
		}
		var req StackRequest
		if err := c.decode(&req, true); err != nil {
			return err
		}
		policy, err := parsePolicy(req.Policy)
		if err != nil {
			return err
		}
		return s.submit(c, op, deploy.Request{Deployment: name, Policy: policy, Stack: c.r.PathValue("stack")})
	}
}

func (s *Server) scale(c *call) error {
	name, err := c.deploymentName()
	if err != nil {
		return err
	}
	var req ScaleRequest
	if err := c.decode(&req, false); err != nil {
		return err
	}
	if req.Instances == nil {
		return invalid("instances", TypeRequired, fmt.Sprintf("must be 1 to %d", validate.MaxInstances))
	}
	if n := *req.Instances; n < 1 || n > validate.MaxInstances {
		return invalid("instances", TypeInvalid, fmt.Sprintf("must be 1 to %d (stop the stack to run none), got %d", validate.MaxInstances, n))
	}
	if err := s.checkScale(c, name, *req.Instances); err != nil {
		return err
	}
	return s.submit(c, store.OpScale, deploy.Request{
		Deployment: name, Stack: c.r.PathValue("stack"), Service: c.r.PathValue("service"), Instances: *req.Instances,
	})
}

// checkScale refuses a scale beyond the limits: the instances of one
// service, and of the whole deployment as it runs (its version with the
// scales already made), this service at its new count.
func (s *Server) checkScale(c *call, name string, n int) error {
	lim := s.opts.Limits
	if lim.InstancesPerService >= 0 && n > lim.InstancesPerService {
		return invalid("instances", TypeTooMany, fmt.Sprintf("must be at most %d (limit max-instances-per-service), got %d", lim.InstancesPerService, n))
	}
	if lim.Instances < 0 {
		return nil
	}
	ctx := c.r.Context()
	d, err := s.st.GetDeployment(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the operation says so
	} else if err != nil {
		return err
	}
	v, err := s.st.GetVersion(ctx, d.VersionID)
	if err != nil {
		return err
	}
	stackName, service := c.r.PathValue("stack"), c.r.PathValue("service")
	total := 0
	for _, tier := range deploy.ScaledSpec(v.StackDeps, d.Parameters) {
		for si := range tier {
			for k := range tier[si].Services {
				if svc := &tier[si].Services[k]; tier[si].Name == stackName && svc.Name == service {
					total += n
				} else {
					total += svc.Replicas()
				}
			}
		}
	}
	if total > lim.Instances {
		return invalid("instances", TypeTooMany, fmt.Sprintf("the deployment would run %d instances; at most %d (limit max-instances)", total, lim.Instances))
	}
	return nil
}

func (s *Server) getRecord(c *call) (*store.Deployment, error) {
	name, err := c.deploymentName()
	if err != nil {
		return nil, err
	}
	d, err := s.st.GetDeployment(c.r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("deployment", name)
	}
	return d, err
}

func (s *Server) listOperations(c *call) error {
	d, err := s.getRecord(c)
	if err != nil {
		return err
	}
	ops := d.Operations
	if ops == nil {
		ops = []store.Operation{}
	}
	return c.ok(OperationList{Operations: ops, RequestID: c.id})
}

func (s *Server) getOperation(c *call) error {
	d, err := s.getRecord(c)
	if err != nil {
		return err
	}
	id := c.r.PathValue("operation")
	op := d.Operation(id)
	if op == nil {
		return notFound("operation", id)
	}
	return c.ok(OperationResponse{Operation: op, RequestID: c.id})
}
