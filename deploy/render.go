package deploy

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/stackwave/stackwave/internal/redact"
	"github.com/stackwave/stackwave/stack"
)

// Config files.
//
// Every config_paths entry of a service is rendered, before anything
// starts, from a Go text/template the caller supplies in
// Request.ConfigTemplates. The template for a path is looked up by the
// most specific key first:
//
//	"<stack>/<service>:<path>"   one service of one stack
//	"<service>:<path>"           a service of that name in any stack
//	"<path>"                     every service with that config path
//
// A template sees:
//
//	.Deployment, .Product, .Stack, .Service   names
//	.Vars.NAME                                 the request's Vars (missing: error)
//	.Services                                  "stack/service" -> {Host, Alias, Ports}
//
// and the functions host, port and addr: {{host "mysql-cluster" "mysql-1"}}
// is the name the runtime resolves for that service ("mysql-1.mysql-cluster"
// on Docker, its Service "mysql-cluster-mysql-1" on Kubernetes),
// {{port "mysql-cluster" "mysql-1"}} its first backend port,
// {{addr "mysql-cluster" "mysql-1"}} both joined by ':'. A missing
// template, variable or service is an error naming it.

// ServiceAddress is how services reach a service inside a deployment.
type ServiceAddress struct {
	// Host is the name the runtime resolves: "<service>.<stack>" on
	// Docker, the service's Service object on Kubernetes (see
	// runtime.ServiceHost).
	Host string
	// Alias is "<stack>-<service>".
	Alias string
	// Ports are the backend ports of its access points.
	Ports []int
}

type renderData struct {
	Deployment string
	Product    string
	Stack      string
	Service    string
	Vars       map[string]string
	Services   map[string]ServiceAddress
}

// RenderError reports a config file that could not be rendered.
type RenderError struct {
	Stack, Service, Path string
	Msg                  string
}

func (e *RenderError) Error() string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("render config: stack %s service %s path %s: %s", e.Stack, e.Service, e.Path, e.Msg)
}

// execPrefix parses text/template's execution errors: "template: NAME:LINE:COL:
// executing "NAME" at <NODE>: CAUSE".
var execPrefix = regexp.MustCompile(`(?s)^template: .*?:(\d+):(\d+): executing ".*?" at <(.*?)>: (.*)$`)

// execError describes a template that failed to execute by its name,
// line, action and function, never by a value: the cause of a failed
// function call, which may quote its arguments, is left out unless it is
// one of stackwave's own functions, whose messages then pass a redactor
// that treats every launch variable as secret.
func execError(key string, err error, vars map[string]string) string {
	head := "template " + strconv.Quote(key)
	m := execPrefix.FindStringSubmatch(err.Error())
	if m == nil {
		return head + ": execution failed"
	}
	head += " line " + m[1] + " column " + m[2] + " at <" + m[3] + ">"
	cause := m[4]
	if fn, rest, ok := strings.Cut(strings.TrimPrefix(cause, "error calling "), ": "); ok && strings.HasPrefix(cause, "error calling ") {
		switch fn {
		case "host", "port", "addr":
			cause = "error calling " + fn + ": " + rest
		default:
			return head + ": error calling " + fn
		}
	}
	ss := make([]redact.Secret, 0, len(vars))
	for k, v := range vars {
		ss = append(ss, redact.Secret{Key: "SECRET_" + k, Value: v})
	}
	return head + ": " + redact.New(ss...).String(cause)
}

// hostFunc names a service for the other services of its deployment.
type hostFunc func(stackName, service string) string

func defaultHost(stackName, service string) string { return service + "." + stackName }

// addresses returns the in-deployment address of every service of deps.
func addresses(deps stack.Deps, host hostFunc) map[string]ServiceAddress {
	out := map[string]ServiceAddress{}
	for _, tier := range deps {
		for si := range tier {
			s := &tier[si]
			for k := range s.Services {
				svc := &s.Services[k]
				var ports []int
				for _, ap := range svc.AccessPoints {
					ports = append(ports, ap.BackendPorts...)
				}
				out[s.Name+"/"+svc.Name] = ServiceAddress{Host: host(s.Name, svc.Name), Alias: s.Name + "-" + svc.Name, Ports: ports}
			}
		}
	}
	return out
}

// renderFiles renders the config files of every service of deps. The
// result maps stack name -> service name -> path -> content.
func renderFiles(deployment, productName string, deps stack.Deps, templates, vars map[string]string, host hostFunc) (map[string]map[string]map[string][]byte, error) {
	return renderFilesUse(deployment, productName, deps, templates, vars, host, nil)
}

// renderFilesUse is renderFiles that records in use (when not nil) which
// templates and variables the rendering used.
func renderFilesUse(deployment, productName string, deps stack.Deps, templates, vars map[string]string, host hostFunc, use *templateUse) (map[string]map[string]map[string][]byte, error) {
	if host == nil {
		host = defaultHost
	}
	var addrs map[string]ServiceAddress
	parsed := map[string]*template.Template{}
	out := map[string]map[string]map[string][]byte{}
	for _, tier := range deps {
		for si := range tier {
			s := &tier[si]
			for k := range s.Services {
				svc := &s.Services[k]
				if len(svc.ConfigPaths) == 0 {
					continue
				}
				if addrs == nil {
					addrs = addresses(deps, host)
				}
				files := map[string][]byte{}
				for _, p := range svc.ConfigPaths {
					key, text, ok := lookupTemplate(templates, s.Name, svc.Name, p)
					if !ok {
						return nil, &RenderError{Stack: s.Name, Service: svc.Name, Path: p,
							Msg: fmt.Sprintf("no template: give ConfigTemplates one of %q, %q or %q", s.Name+"/"+svc.Name+":"+p, svc.Name+":"+p, p)}
					}
					t, ok := parsed[key]
					if !ok {
						var err error
						t, err = template.New(key).Option("missingkey=error").Funcs(funcs(addrs)).Parse(text)
						if err != nil {
							return nil, &RenderError{Stack: s.Name, Service: svc.Name, Path: p, Msg: "template " + strconv.Quote(key) + ": " + err.Error()}
						}
						parsed[key] = t
						use.add(key, t)
					}
					var b bytes.Buffer
					data := &renderData{Deployment: deployment, Product: productName, Stack: s.Name, Service: svc.Name, Vars: vars, Services: addrs}
					if data.Vars == nil {
						data.Vars = map[string]string{}
					}
					if err := t.Execute(&b, data); err != nil {
						return nil, &RenderError{Stack: s.Name, Service: svc.Name, Path: p, Msg: execError(key, err, vars)}
					}
					files[p] = b.Bytes()
				}
				if out[s.Name] == nil {
					out[s.Name] = map[string]map[string][]byte{}
				}
				out[s.Name][svc.Name] = files
			}
		}
	}
	return out, nil
}

func lookupTemplate(templates map[string]string, stackName, service, path string) (key, text string, ok bool) {
	for _, k := range []string{stackName + "/" + service + ":" + path, service + ":" + path, path} {
		if t, ok := templates[k]; ok {
			return k, t, true
		}
	}
	return "", "", false
}

func funcs(addrs map[string]ServiceAddress) template.FuncMap {
	find := func(stackName, service string) (ServiceAddress, error) {
		a, ok := addrs[stackName+"/"+service]
		if !ok {
			names := make([]string, 0, len(addrs))
			for k := range addrs {
				names = append(names, k)
			}
			sort.Strings(names)
			return a, fmt.Errorf("no service %s/%s in the product (have %v)", stackName, service, names)
		}
		return a, nil
	}
	port := func(stackName, service string) (int, error) {
		a, err := find(stackName, service)
		if err != nil {
			return 0, err
		}
		if len(a.Ports) == 0 {
			return 0, fmt.Errorf("service %s/%s has no access point ports", stackName, service)
		}
		return a.Ports[0], nil
	}
	return template.FuncMap{
		"host": func(stackName, service string) (string, error) {
			a, err := find(stackName, service)
			return a.Host, err
		},
		"port": port,
		"addr": func(stackName, service string) (string, error) {
			a, err := find(stackName, service)
			if err != nil {
				return "", err
			}
			p, err := port(stackName, service)
			if err != nil {
				return "", err
			}
			return a.Host + ":" + strconv.Itoa(p), nil
		},
	}
}

// templateUse records which config templates and variables a rendering
// used, so that keys and variables nothing uses are refused rather than
// silently ignored.
type templateUse struct {
	templates map[string]bool
	vars      map[string]bool
	allVars   bool // a template uses .Vars as a whole (index, range)
}

func (u *templateUse) add(key string, t *template.Template) {
	if u == nil {
		return
	}
	if u.templates == nil {
		u.templates, u.vars = map[string]bool{}, map[string]bool{}
	}
	u.templates[key] = true
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			u.walk(tt.Tree.Root)
		}
	}
}

// walk marks the variables a template node refers to: .Vars.NAME,
// $.Vars.NAME, (.Vars).NAME; .Vars on its own marks them all.
func (u *templateUse) walk(n parse.Node) {
	idents := func(ids []string) {
		for i, id := range ids {
			if id != "Vars" {
				continue
			}
			if i+1 < len(ids) {
				u.vars[ids[i+1]] = true
			} else {
				u.allVars = true
			}
		}
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				u.walk(c)
			}
		}
	case *parse.ActionNode:
		u.walk(n.Pipe)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				u.walk(c)
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			u.walk(a)
		}
	case *parse.IfNode:
		u.walk(n.Pipe)
		u.walk(n.List)
		u.walk(n.ElseList)
	case *parse.RangeNode:
		u.walk(n.Pipe)
		u.walk(n.List)
		u.walk(n.ElseList)
	case *parse.WithNode:
		u.walk(n.Pipe)
		u.walk(n.List)
		u.walk(n.ElseList)
	case *parse.TemplateNode:
		u.walk(n.Pipe)
	case *parse.FieldNode:
		idents(n.Ident)
	case *parse.VariableNode:
		idents(n.Ident)
	case *parse.ChainNode:
		if f, ok := n.Node.(*parse.FieldNode); ok && len(f.Ident) > 0 && f.Ident[len(f.Ident)-1] == "Vars" && len(n.Field) > 0 {
			u.vars[n.Field[0]] = true
		} else {
			u.walk(n.Node)
		}
	}
}

// UnusedError reports config templates and variables a request gives
// but no config file of the product uses.
type UnusedError struct {
	// Templates and Vars are the unused keys and names, sorted.
	Templates, Vars []string
}

func (e *UnusedError) Error() string {
	if e == nil {
		return "<nil>"
	}
	var parts []string
	if len(e.Templates) > 0 {
		parts = append(parts, "config templates "+strings.Join(quoteAll(e.Templates), ", ")+" match no config path of the product")
	}
	if len(e.Vars) > 0 {
		parts = append(parts, "variables "+strings.Join(quoteAll(e.Vars), ", ")+" are used by no config template")
	}
	return "unused input: " + strings.Join(parts, "; ")
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// unused returns an *UnusedError listing the templates and vars of a
// request that the rendering did not use, or nil. A nil use checks
// nothing.
func (u *templateUse) unused(templates, vars map[string]string) error {
	if u == nil {
		return nil
	}
	e := &UnusedError{}
	for k := range templates {
		if !u.templates[k] {
			e.Templates = append(e.Templates, k)
		}
	}
	if !u.allVars {
		for k := range vars {
			if !u.vars[k] {
				e.Vars = append(e.Vars, k)
			}
		}
	}
	if len(e.Templates)+len(e.Vars) == 0 {
		return nil
	}
	sort.Strings(e.Templates)
	sort.Strings(e.Vars)
	return e
}
