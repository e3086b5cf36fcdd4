package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"runtime/debug"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/store/storeurl"
	"github.com/stackwave/stackwave/validate"
)

// maxDocument bounds the size of a product document read by the CLI.
const maxDocument = 64 << 20

// readDocument reads FILE, or stdin for "-".
func readDocument(file string, env *cliEnv) ([]byte, error) {
	var r io.Reader
	switch file {
	case "":
		return nil, errors.New("-f FILE is required (use -f - for stdin)")
	case "-":
		r = env.stdin
	default:
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxDocument+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDocument {
		return nil, fmt.Errorf("%s: larger than %d bytes", file, maxDocument)
	}
	return b, nil
}

// loadDocument reads, decodes and validates a document. It prints the
// problems and returns a non-zero exit code when the document is unusable.
func loadDocument(file string, env *cliEnv) (*product.Document, int) {
	doc, r, code := checkDocument(file, env)
	if code == exitOK {
		return doc, code
	}
	switch {
	case r == nil:
	case r.decodeErr != nil:
		var de *product.DecodeError
		if errors.As(r.decodeErr, &de) && file != "-" {
			fmt.Fprintf(env.stderr, "%s: %v\n", file, r.decodeErr)
		} else {
			fmt.Fprintln(env.stderr, r.decodeErr)
		}
	case r.sizeErr != nil:
		env.errorf("%s: %v", displayName(file), r.sizeErr)
	default:
		for _, p := range r.Problems {
			fmt.Fprintln(env.stderr, p.text)
		}
		env.errorf("%s: %d problems", displayName(file), len(r.Problems))
	}
	return nil, code
}

// docReport is what validate -o json|yaml prints.
type docReport struct {
	Valid    bool      `json:"valid"`
	Product  string    `json:"product,omitempty"`
	Tiers    int       `json:"tiers,omitempty"`
	Stacks   int       `json:"stacks,omitempty"`
	Services int       `json:"services,omitempty"`
	Problems []problem `json:"problems,omitempty"`

	decodeErr, sizeErr error
}

// problem is one reason a document is refused.
type problem struct {
	// Field is the path as the document wrote it; empty for the
	// document as a whole.
	Field string `json:"field,omitempty"`
	Type  string `json:"type,omitempty"`
	// Detail says what is wrong; it never shows an env value.
	Detail string `json:"detail"`
	// Line and Column locate a decoding problem (1-based).
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`

	text string
}

// checkDocument reads, decodes and validates a document. A document that
// cannot be read returns a nil report and prints why.
func checkDocument(file string, env *cliEnv) (*product.Document, *docReport, int) {
	data, err := readDocument(file, env)
	if err != nil {
		env.errorf("%v", err)
		return nil, nil, exitUsage
	}
	r := &docReport{}
	// The limits of a server with the default flags: a document valid
	// here is accepted there.
	opts := &validate.Options{Limits: validate.DefaultLimits()}
	if err := validate.Size(len(data), opts); err != nil {
		r.sizeErr = err
		r.Problems = []problem{{Detail: err.Error(), text: err.Error()}}
		return nil, r, exitUsage
	}
	doc, err := product.Decode(data)
	if err != nil {
		r.decodeErr = err
		p := problem{Detail: err.Error(), text: err.Error()}
		var de *product.DecodeError
		if errors.As(err, &de) {
			p.Field, p.Line, p.Column, p.Detail = de.Field, de.Line, de.Column, de.Msg
		}
		r.Problems = []problem{p}
		return nil, r, exitUsage
	}
	r.Product = doc.Name
	if err := validate.Document(doc, opts); err != nil {
		var ve *validate.Error
		if errors.As(err, &ve) {
			for _, fe := range ve.Errors {
				r.Problems = append(r.Problems, problem{Field: fe.Field, Type: fe.Type.String(), Detail: fe.Detail, text: fe.Error()})
			}
		} else {
			r.Problems = []problem{{Detail: err.Error(), text: err.Error()}}
		}
		return nil, r, exitUsage
	}
	r.Valid = true
	r.Tiers, r.Stacks, r.Services = doc.StackDeps.Counts()
	return doc, r, exitOK
}

func displayName(file string) string {
	if file == "-" {
		return "stdin"
	}
	return file
}

func validateCmd(fs *flag.FlagSet, env *cliEnv) runner {
	file := fs.String("f", "", "product document, JSON or YAML (- for stdin)")
	output := addOutputFlag(fs)
	return func(args []string) int {
		if _, code, ok := wantArgs(env, "validate", args, 0, ""); !ok {
			return code
		}
		if *output != "text" {
			_, r, code := checkDocument(*file, env)
			if r == nil {
				return code
			}
			return max(writeOutput(env, *output, r), code)
		}
		doc, code := loadDocument(*file, env)
		if code != exitOK {
			return code
		}
		tiers, stacks, services := doc.StackDeps.Counts()
		fmt.Fprintf(env.stdout, "product %s is valid: %d tiers, %d stacks, %d services\n", doc.Name, tiers, stacks, services)
		return exitOK
	}
}

func planCmd(fs *flag.FlagSet, env *cliEnv) runner {
	file := fs.String("f", "", "product document, JSON or YAML (- for stdin)")
	output := addOutputFlag(fs)
	name := fs.String("name", "", "show what applying the document to this deployment would change, drift included (with --server: the server's deployment)")
	b := addBackendFlags(fs)
	configDir := fs.String("config-dir", "", "with --name: directory of config file templates, as for apply")
	configs := kvFlag{}
	fs.Var(configs, "config", "with --name: config template KEY=FILE, as for apply (repeatable)")
	vars := kvFlag{}
	fs.Var(vars, "var", "with --name: template variable NAME=VALUE, as for apply (repeatable)")
	return func(args []string) int {
		if _, code, ok := wantArgs(env, "plan", args, 0, ""); !ok {
			return code
		}
		doc, code := loadDocument(*file, env)
		if code != exitOK {
			return code
		}
		if *name != "" {
			templates, err := loadTemplates(*configDir, configs)
			if err != nil {
				env.errorf("plan: %v", err)
				return exitUsage
			}
			req := deploy.Request{Deployment: *name}
			if len(templates) > 0 {
				req.ConfigTemplates = templates
			}
			if len(vars) > 0 {
				req.Vars = vars
			}
			if env.serverURL() != "" {
				ctx, cancel := signalContext()
				defer cancel()
				d, code := openFor(ctx, env, b, "plan")
				if code != exitOK {
					return code
				}
				defer d.Close()
				return previewRemote(ctx, env, d, doc, req, *output)
			}
			return previewApply(doc, req, b, *output, env)
		}
		plan, err := deploy.NewPlan(doc.StackDeps)
		if err != nil {
			env.errorf("%v", err)
			return codeOf(err)
		}
		if *output != "text" {
			return writeOutput(env, *output, plan)
		}
		fmt.Fprintf(env.stdout, "product %s: ", doc.Name)
		if err := plan.WriteText(env.stdout); err != nil {
			env.errorf("%v", err)
			return codeOf(err)
		}
		return exitOK
	}
}

func versionCmd(fs *flag.FlagSet, env *cliEnv) runner {
	output := addOutputFlag(fs)
	return func(args []string) int {
		if _, code, ok := wantArgs(env, "version", args, 0, ""); !ok {
			return code
		}
		v := buildVersion()
		if *output != "text" {
			return writeOutput(env, *output, v)
		}
		fmt.Fprintf(env.stdout, "stackwave %s\n", v)
		return exitOK
	}
}

// version, when set at link time (-ldflags "-X main.version=v1.2.3"),
// overrides the module version of the build info.
var version string

// versionInfo is what stackwave was built from.
type versionInfo struct {
	// Version is the module version: a release tag when installed with
	// go install ...@version, "(devel)" when built from a work tree.
	Version string `json:"version"`
	// Commit, Time and Modified describe the VCS revision built from,
	// when the build recorded it.
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"commit_time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// Go is the Go version and Platform the target it was built for.
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: "(devel)", Go: goruntime.Version(), Platform: goruntime.GOOS + "/" + goruntime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		v.Version = version
	}
	return v
}

// String is the one-line form: version, commit, Go version and platform.
func (v versionInfo) String() string {
	s := v.Version
	if v.Commit != "" {
		s += " (commit " + v.Commit[:min(12, len(v.Commit))]
		if v.Time != "" {
			s += ", " + v.Time
		}
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + v.Go + " " + v.Platform
}

// previewApply prints what `apply --name` would change, without changing
// anything.
func previewApply(doc *product.Document, req deploy.Request, b *backendFlags, output string, env *cliEnv) int {
	ctx, cancel := signalContext()
	defer cancel()
	var rt runtime.Runtime
	// The simulated runtime of --runtime memory lives in one process:
	// this one's holds nothing to observe.
	if rtName := b.runtime; rtName != runtimeMemory {
		r, closeRT, err := (&backendFlags{runtime: rtName}).openRuntime(ctx)
		switch {
		case err == nil:
			defer closeRT()
			rt = r
		case rtName == runtimeAuto || rtName == "":
			env.errorf("plan: drift not checked: %v", err)
		default:
			env.errorf("plan: %v", err)
			return codeOf(err)
		}
	}
	st, err := storeurl.Open(ctx, b.storeURL())
	if err != nil {
		env.errorf("plan: store: %v", err)
		return codeOf(err)
	}
	defer st.Close()
	deps := doc.StackDeps
	if doc.TemplateURL != "" {
		t, err := st.GetTemplate(ctx, doc.TemplateURL)
		if err != nil {
			env.errorf("plan: template %s: %v", doc.TemplateURL, err)
			return codeOf(err)
		}
		deps = t.StackDeps
	}
	ex := deploy.New(rt, st, nil)
	defer ex.Close()
	cs, err := ex.PreviewChanges(ctx, req, deps)
	if err != nil {
		env.errorf("plan: %v", err)
		return codeOf(err)
	}
	return showChanges(env, req.Deployment, cs, output)
}
