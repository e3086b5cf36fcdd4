package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/store"
)

// kvFlag collects repeated KEY=VALUE flags.
type kvFlag map[string]string

func (f kvFlag) String() string { return "" }

func (f kvFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	f[k] = v
	return nil
}

// applyStep, when set (by benchmarks), is called as each of apply's steps
// ends, and at the operation's started and done events, to time them.
var applyStep func(step string)

func traceApply(step string) {
	if applyStep != nil {
		applyStep(step)
	}
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func applyCmd(fs *flag.FlagSet, env *cliEnv) runner {
	file := fs.String("f", "", "product document, JSON or YAML (- for stdin)")
	name := fs.String("name", "", "deployment name (a DNS label)")
	policy := fs.String("policy", "fail-fast", "failure policy: fail-fast, continue or rollback")
	versionName := fs.String("version-name", "", "name of the version registered for a new spec (default: the document's version_name, else v<N>)")
	configDir := fs.String("config-dir", "", "directory of config file templates: DIR/a/b.conf is the template of config path /a/b.conf")
	configs := kvFlag{}
	fs.Var(configs, "config", "config template KEY=FILE, KEY being a path, service:path or stack/service:path (repeatable)")
	vars := kvFlag{}
	fs.Var(vars, "var", "template variable NAME=VALUE (repeatable)")
	timeout := fs.Duration("timeout", 0, "give up after this long (0: no limit)")
	output := fs.String("progress", "auto", "progress display: auto (live on a terminal), live, plain, none")
	backends := addBackendFlags(fs)
	addFaultFlag(fs, backends)
	concurrency := addConcurrencyFlag(fs)
	detach := fs.Bool("detach", false, "with --server: print the operation ID and return at once; follow it with: stackwave events NAME --operation ID --follow")
	return func(args []string) int {
		traceApply("begin")
		if _, code, ok := wantArgs(env, "apply", args, 0, ""); !ok {
			return code
		}
		if *name == "" {
			env.errorf("apply: --name is required")
			return exitUsage
		}
		pol, err := deploy.ParsePolicy(*policy)
		if err != nil {
			env.errorf("apply: %v", err)
			return exitUsage
		}
		doc, code := loadDocument(*file, env)
		if code != exitOK {
			return code
		}
		traceApply("read")
		templates, err := loadTemplates(*configDir, configs)
		if err != nil {
			env.errorf("apply: %v", err)
			return exitUsage
		}
		req := deploy.Request{Deployment: *name, Policy: pol, Timeout: *timeout}
		if len(templates) > 0 {
			req.ConfigTemplates = templates
		}
		if len(vars) > 0 {
			req.Vars = vars
		}
		ctx, cancel := signalContext()
		defer cancel()
		if *concurrency < 0 {
			env.errorf("apply: --concurrency %d: want 0 (the runtime's own bound) or more", *concurrency)
			return exitUsage
		}
		if env.serverURL() != "" {
			if *timeout != 0 || *concurrency != 0 {
				env.errorf("apply: --timeout and --concurrency are the server's: leave them out with --server")
				return exitUsage
			}
			return applyRemote(ctx, env, backends, doc, req, *versionName, *output, *detach)
		}
		if *detach {
			env.errorf("apply: %v", errDetachLocal)
			return exitUsage
		}
		st, rt, closeAll, err := backends.open(ctx)
		if err != nil {
			env.errorf("apply: %v", err)
			return codeOf(err)
		}
		defer closeAll()
		traceApply("opened")
		prog := newProgress(*output, env.stdout)
		onEvent := prog.event
		if applyStep != nil {
			onEvent = func(e deploy.Event) {
				if e.Type == deploy.EventOperationStarted || e.Type == deploy.EventOperationDone {
					applyStep(string(e.Type))
				}
				prog.event(e)
			}
		}
		ex := deploy.New(rt, st, &deploy.Options{OnEvent: onEvent, Concurrency: *concurrency})
		defer ex.Close()

		// A request that will be refused changes nothing: templates, vars
		// and the runtime are checked before the catalog is written.
		if doc.Active != nil && !*doc.Active {
			env.errorf("apply: the document marks its version inactive (\"active\": false): it cannot be launched or updated to")
			return exitConflict
		}
		if err := precheck(ctx, ex, req, doc); err != nil {
			env.errorf("apply: %v", err)
			return codeOf(err)
		}
		traceApply("prechecked")
		p, v, err := register(ctx, st, doc, *versionName)
		if err != nil {
			env.errorf("apply: %v", err)
			return codeOf(err)
		}
		traceApply("registered")
		req.VersionID = v.ID
		op := store.OpLaunch
		if d, err := st.GetDeployment(ctx, *name); err == nil && d.Status != store.StatusTerminated {
			if d.ProductID != p.ID {
				env.errorf("apply: deployment %s runs product %s, not %s", *name, d.ProductID, p.Name)
				return exitConflict
			}
			op = store.OpUpdate
		}
		fmt.Fprintf(env.stderr, "%s %s: product %s (%s), version %s (%s)\n", op, *name, p.Name, p.ID, v.Name, v.ID)
		res, err := ex.Run(ctx, op, req)
		prog.done()
		if res != nil && res.Changes != nil && op == store.OpUpdate && res.Changes.Empty() {
			fmt.Fprintf(env.stdout, "%s is up to date\n", *name)
		}
		if err != nil {
			env.errorf("%v", err)
			return opCode(err)
		}
		code = printStatus(ctx, ex, *name, "text", env)
		traceApply("reported")
		return code
	}
}

// precheck checks what applying doc would do without changing anything:
// the templates render, every template and variable given is used, and
// the runtime answers.
func precheck(ctx context.Context, ex *deploy.Executor, req deploy.Request, doc *product.Document) error {
	deps := doc.StackDeps
	if doc.TemplateURL != "" {
		t, err := ex.Store().GetTemplate(ctx, doc.TemplateURL)
		if err != nil {
			return fmt.Errorf("template %s: %w", doc.TemplateURL, err)
		}
		deps = t.StackDeps
	}
	// The runtime is asked while the changes are previewed: on a
	// cluster its answer is most of the check's time.
	observed := make(chan error, 1)
	go func() {
		_, err := ex.Runtime().Observe(ctx, req.Deployment)
		observed <- err
	}()
	_, previewErr := ex.PreviewChanges(ctx, req, deps)
	observeErr := <-observed
	if previewErr != nil {
		return previewErr
	}
	if observeErr != nil {
		return fmt.Errorf("runtime %s: %w", ex.Runtime().Name(), runtime.MapError(ex.Runtime(), observeErr))
	}
	return nil
}

// register returns the product named by the document and a version with
// the document's spec. A new product is registered with its version in
// one write (store.Register), so a crash never leaves a product without
// a version; for a product that exists, the version is an existing one
// with the same content hash, or a new one.
func register(ctx context.Context, st *store.Store, doc *product.Document, versionName string) (*product.Product, *product.Version, error) {
	d := *doc
	d.VersionName = orDefault(versionName, doc.VersionName)
	reg, err := st.Register(ctx, &d, &store.RegisterOptions{ProviderName: applyProvider})
	if err == nil {
		return reg.Product, reg.Version, nil
	}
	if !errors.Is(err, store.ErrAlreadyExists) {
		return nil, nil, fmt.Errorf("product %s: %w", doc.Name, err)
	}
	// The product exists with another spec: apply adds a version.
	p, err := st.GetProduct(ctx, doc.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("product %s: %w", doc.Name, err)
	}
	deps := doc.StackDeps
	if doc.TemplateURL != "" {
		t, err := st.GetTemplate(ctx, doc.TemplateURL)
		if err != nil {
			return nil, nil, fmt.Errorf("template %s: %w", doc.TemplateURL, err)
		}
		deps = t.StackDeps
	}
	same, err := st.ListVersions(ctx, p.ID, store.VersionQuery{ContentHash: product.Hash(deps)})
	if err != nil {
		return nil, nil, fmt.Errorf("product %s: versions: %w", p.Name, err)
	}
	if len(same) > 0 {
		return p, same[len(same)-1], nil
	}
	all, err := st.ListVersions(ctx, p.ID, store.VersionQuery{})
	if err != nil {
		return nil, nil, fmt.Errorf("product %s: versions: %w", p.Name, err)
	}
	name := d.VersionName
	for n := len(all) + 1; ; n++ {
		vname := name
		if vname == "" {
			vname = fmt.Sprintf("v%d", n)
		}
		v := &product.Version{ProductID: p.ID, Name: vname, Description: doc.VersionDescription,
			Guidance: doc.Guidance, Active: doc.Active == nil || *doc.Active, StackDeps: deps, TemplateURL: doc.TemplateURL}
		v, err = st.CreateVersion(ctx, v)
		if errors.Is(err, store.ErrAlreadyExists) && name == "" {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("product %s: version %s: %w", p.Name, vname, err)
		}
		return p, v, nil
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// loadTemplates reads config templates from a directory (file DIR/a/b is
// the template of path /a/b) and from KEY=FILE flags.
func loadTemplates(dir string, files map[string]string) (map[string]string, error) {
	out := map[string]string{}
	if dir != "" {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out["/"+filepath.ToSlash(rel)] = string(b)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("--config-dir: %w", err)
		}
	}
	for key, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--config %s: %w", key, err)
		}
		out[key] = string(b)
	}
	return out, nil
}

func statusCmd(fs *flag.FlagSet, env *cliEnv) runner {
	output := addOutputFlag(fs)
	page := addInstanceFlags(fs)
	backends := addBackendFlags(fs)
	return func(args []string) int {
		pos, code, ok := wantArgs(env, "status", args, 1, "a deployment NAME")
		if !ok {
			return code
		}
		code = exitOK
		if c := withDeployments(env, backends, "status", func(ctx context.Context, d deployments) error {
			st, err := d.Status(ctx, pos[0], page)
			if err != nil {
				return err
			}
			code = showStatus(env, st, *output)
			return nil
		}); c != exitOK {
			return c
		}
		return code
	}
}

func destroyCmd(fs *flag.FlagSet, env *cliEnv) runner {
	deleteData := fs.Bool("delete-data", false, "also delete volumes")
	o := addOpFlags(fs)
	backends := addBackendFlags(fs)
	return func(args []string) int {
		pos, code, ok := wantArgs(env, "destroy", args, 1, "a deployment NAME")
		if !ok {
			return code
		}
		name := pos[0]
		code = runOperation(env, backends, o, store.OpTerminate, deploy.Request{Deployment: name, DeleteData: *deleteData}, name, true)
		if code != exitOK || o.detach {
			return code
		}
		kept := "volumes kept"
		if *deleteData {
			kept = "volumes deleted"
		}
		fmt.Fprintf(env.stdout, "%s terminated (%s)\n", name, kept)
		return exitOK
	}
}

func openExecutor(ctx context.Context, b *backendFlags, onEvent func(deploy.Event)) (*deploy.Executor, func(), error) {
	st, rt, closeAll, err := b.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	ex := deploy.New(rt, st, &deploy.Options{OnEvent: onEvent})
	return ex, func() { ex.Close(); closeAll() }, nil
}

// printStatus prints a deployment's status: its stacks, services and
// endpoints, health and sync. It exits non-zero unless the deployment is
// Available (running and in sync) or Terminated, in text and JSON alike.
func printStatus(ctx context.Context, ex *deploy.Executor, name, output string, env *cliEnv, opts ...deploy.StatusOption) int {
	st, err := ex.Status(ctx, name, opts...)
	if err != nil {
		env.errorf("status: %v", err)
		return codeOf(err)
	}
	return showStatus(env, st, output)
}

// showStatus prints st and returns the exit code: non-zero unless the
// deployment is Available or Terminated.
func showStatus(env *cliEnv, st *deploy.Status, output string) int {
	code := exitOK
	if st.Status != store.StatusAvailable && st.Status != store.StatusTerminated {
		code = exitFailed
	}
	if output != "text" {
		return max(writeOutput(env, output, st), code)
	}
	writeStatus(env.stdout, st)
	return code
}

func writeStatus(w io.Writer, st *deploy.Status) {
	verdict := string(st.Status)
	if st.Recorded != st.Status {
		verdict += " (recorded " + string(st.Recorded) + ")"
	}
	fmt.Fprintf(w, "deployment %s: %s, health %s, sync %s (version %s)\n", st.Name, verdict,
		orDefault(st.Health, "unknown"), orDefault(st.Sync, "unknown"), st.VersionID)
	if st.ObserveError != "" {
		fmt.Fprintf(w, "  runtime: %s\n", st.ObserveError)
	}
	if st.ReconcilePaused {
		fmt.Fprintf(w, "  reconciliation paused\n")
	}
	for _, s := range st.Stacks {
		fmt.Fprintf(w, "  tier %d  %-20s %-9s %-12s %s\n", s.Tier, s.Name, s.Health, s.Sync, s.State)
		if s.Reason != "" {
			fmt.Fprintf(w, "          %s\n", s.Reason)
		}
		for _, svc := range s.Services {
			fmt.Fprintf(w, "          %-20s %-9s %-12s %d/%d ready", svc.Name, svc.Health, svc.Sync, svc.Ready, svc.Desired)
			if len(svc.Drift) > 0 {
				fmt.Fprintf(w, "  %s", strings.Join(svc.Drift, ", "))
				if svc.DriftDetail != "" {
					fmt.Fprintf(w, " (%s)", svc.DriftDetail)
				}
			}
			fmt.Fprintln(w)
			for _, ep := range svc.Endpoints {
				where := ep.Address
				if ep.Host != "" {
					where = strings.TrimSpace(ep.Host + " " + ep.Address)
				}
				if where == "" {
					where = ep.Internal + " (inside the deployment)"
				}
				fmt.Fprintf(w, "            %s %s/%d -> %s\n", ep.Type, ep.Proto, ep.BackendPort, where)
			}
			for _, in := range svc.Instances {
				state := "running"
				if !in.Running {
					state = "not running"
				}
				if in.Ready {
					state += ", ready"
				}
				if in.Reason != "" {
					state += ", " + in.Reason
				}
				fmt.Fprintf(w, "            instance %s: %s\n", in.Name, state)
			}
		}
	}
	if p := st.Instances; p != nil && p.Next > 0 {
		fmt.Fprintf(w, "instances %d-%d of %d; next page: --instance-offset %d\n", p.Offset+1, p.Next, p.Total, p.Next)
	}
	if op := st.LastOperation; op != nil {
		took := ""
		if !op.EndedAt.IsZero() {
			took = " in " + op.EndedAt.Sub(op.StartedAt).Round(time.Millisecond).String()
		}
		fmt.Fprintf(w, "last operation: %s %s %s%s\n", op.Type, op.ID, op.Status, took)
	}
}

// instanceFlags are status's flags for listing instances.
type instanceFlags struct {
	list          bool
	offset, limit int
}

func addInstanceFlags(fs *flag.FlagSet) *instanceFlags {
	f := &instanceFlags{}
	fs.BoolVar(&f.list, "instances", false, "list the instances of each service, a page at a time")
	fs.IntVar(&f.offset, "instance-offset", 0, "with --instances: first instance to list, counted across the deployment")
	fs.IntVar(&f.limit, "instance-limit", deploy.DefaultInstanceLimit, fmt.Sprintf("with --instances: how many to list (at most %d)", deploy.MaxInstanceLimit))
	return f
}

func (f *instanceFlags) options() []deploy.StatusOption {
	if !f.list {
		return nil
	}
	return []deploy.StatusOption{deploy.WithInstances(f.offset, f.limit)}
}
