// Command stackwave validates, plans and deploys stackwave products, and
// serves the control-plane API.
//
//	stackwave validate -f product.json [-o text|json|yaml]
//	stackwave plan -f product.json [--name NAME] [-o text|json|yaml]
//	stackwave apply -f product.json --name NAME [--runtime docker|kube|memory] [--policy P]
//	stackwave status NAME [--instances] [-o text|json|yaml]
//	stackwave destroy NAME [--delete-data]
//	stackwave serve [--addr 127.0.0.1:8080] [--store sqlite:stackwave.db] [--runtime docker|kube|memory] ...
//	stackwave restart|stop|start NAME STACK [--detach]
//	stackwave scale NAME STACK/SERVICE N [--detach]
//	stackwave deployments list | get NAME | history NAME | delete NAME | reconcile NAME --pause|--resume
//	stackwave events NAME [--follow] [--operation ID] [--after-seq N]
//	stackwave logs NAME [STACK[/SERVICE[/INSTANCE]]] [--follow] [--since T] [--tail N] [--timestamps]
//	stackwave products list|get|create|update|delete
//	stackwave versions list|get|create|activate|deactivate|guidance|delete
//	stackwave templates create|get
//	stackwave version | --version
//	stackwave completion bash|zsh|fish|powershell
//	stackwave help COMMAND
//
// serve answers the HTTP API of package api until SIGINT or SIGTERM, then
// finishes the requests in flight. With --server (or STACKWAVE_SERVER),
// and --token-file (or STACKWAVE_TOKEN) for the bearer token, every
// command that reads or changes deployments or the catalog calls a serve
// instead of the local store and runtime, with the same output and exit
// codes; without it, the products, versions and templates commands run
// the same API in process on the local store (--store).
// --runtime memory --fault TARGET=KIND makes the simulated runtime fail
// on purpose, to try failure policies.
//
// Exit codes, the same in every mode: 0 done and converged, 1 failed or
// not healthy, 2 usage or invalid input, 3 not found, 4 conflict or busy,
// 5 cannot reach the runtime, the store or the server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackwave/stackwave/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// cliEnv is what a command reads and writes, so tests run commands in
// process.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// ctx, when set, ends serve as SIGINT does and bounds client calls;
	// nil means context.Background().
	ctx context.Context
	// env, when set, replaces os.Getenv.
	env func(string) string
	// listening, when set, is told the URL serve listens on.
	listening func(url string)
	// server and tokenFile are the global --server and --token-file.
	server, tokenFile string
}

// serverURL is the server the commands call: --server, else
// STACKWAVE_SERVER; empty means the local store and runtime.
func (e *cliEnv) serverURL() string {
	if e.server != "" {
		return e.server
	}
	return e.getenv("STACKWAVE_SERVER")
}

func (e *cliEnv) context() context.Context {
	if e.ctx == nil {
		return context.Background()
	}
	return e.ctx
}

func (e *cliEnv) getenv(key string) string {
	if e.env == nil {
		return os.Getenv(key)
	}
	return e.env(key)
}

func (e *cliEnv) errorf(format string, args ...any) {
	fmt.Fprintln(e.stderr, "stackwave: "+flagWords.Replace(fmt.Sprintf(format, args...)))
}

// flagWords rewrites the words of the Go API in messages of the packages
// into the flags that set them on the command line.
var flagWords = strings.NewReplacer(
	"give ConfigTemplates one of", "give --config (or a file of --config-dir) for one of",
)

// runner runs a command once its flags are parsed, with its positional
// arguments, and returns the exit code.
type runner func(args []string) int

// exitCode is the error a command returns to make the process exit with
// that code; it has printed its own message.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit %d", int(c)) }

// usageError is a command line cobra or a command refused.
type usageError struct{ error }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(args, &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr})
}

// runEnv runs the command line args and returns the exit code.
func runEnv(args []string, env *cliEnv) int {
	root := newRoot(env)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	var code exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	}
	env.errorf("%v", err)
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(env.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	return exitUsage
}

// newRoot returns the command tree, writing to env.
func newRoot(env *cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:   "stackwave",
		Short: "Validate, plan and deploy stackwave products, and serve the control-plane API",
		Long: `stackwave validates product documents, plans and deploys them on Docker,
Kubernetes or a simulated runtime, and serves the HTTP API of package api.`,
		Version:       buildVersion().String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// With no command, print the usage and fail: a script that lost
		// its arguments should not succeed.
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q for %q", args[0], c.CommandPath())
			}
			c.SetOut(env.stderr)
			c.Usage()
			return exitCode(exitUsage)
		},
	}
	root.SetIn(env.stdin)
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	root.SetVersionTemplate("stackwave {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVar(&env.server, "server", "", "call this stackwave serve (http:// or https:// URL) instead of using the local store and runtime (default $STACKWAVE_SERVER)")
	root.PersistentFlags().StringVar(&env.tokenFile, "token-file", "", "with --server: file holding the bearer token (default: $STACKWAVE_TOKEN)")
	root.AddCommand(
		leaf(env, command("validate -f FILE", "Check a product document against the rules", "validate decodes a product document (JSON or YAML, - for stdin) and lists every\nrule it breaks, each with its field path, line and column.",
			"stackwave validate -f examples/kodo-double.json", "cat product.yaml | stackwave validate -f -"), validateCmd),
		leaf(env, command("plan -f FILE [--name NAME]", "Show the start and teardown order, or what apply would change", "",
			"stackwave plan -f examples/kodo-double.json", "stackwave plan -f product.json --name shop -o json"), planCmd),
		leaf(env, command("apply -f FILE --name NAME", "Register the product and launch or update a deployment", "apply registers the document's product and version (a version with the same content\nis reused), then launches the deployment or updates it to that version, tier by\ntier, and exits 0 only when it converged.",
			"stackwave apply -f examples/kodo-double.json --name shop", "stackwave apply -f product.json --name shop --policy rollback --config-dir conf/ --var region=eu"), applyCmd),
		leaf(env, command("quickstart", "Build a demo image and deploy a kodo-double-shaped product", "",
			"stackwave quickstart", "stackwave quickstart --runtime memory"), quickstartCmd),
		leaf(env, command("status NAME", "Show a deployment's health, sync, stacks, services and endpoints", "",
			"stackwave status shop", "stackwave status shop --instances -o json"), statusCmd),
		leaf(env, command("destroy NAME", "Terminate a deployment, last tier first", "",
			"stackwave destroy shop", "stackwave destroy shop --delete-data"), destroyCmd),
		leaf(env, command("serve", "Serve the control-plane HTTP API", `serve answers the HTTP API of package api until SIGINT or SIGTERM, then
finishes the requests in flight. At start and every --lease-ttl it resumes the
operations of replicas that died, once their lease has expired. Without
--policy every caller may do everything, so it listens on loopback only.`,
			"stackwave serve --addr 127.0.0.1:8080", "stackwave serve --store postgres://user:pw@db/stackwave --tokens tokens --policy policy.json --reconcile 30s"), serveCmd),
		group(env, &cobra.Command{Use: "products", Short: "List, show, create and delete products"},
			leaf(env, command("list", "List products", "",
				"stackwave products list", "stackwave products list -q web --page-size 10 -o json --server http://127.0.0.1:8080"), productsListCmd),
			leaf(env, command("get ID|NAME", "Show a product and its versions", "",
				"stackwave products get kodo-double"), productsGetCmd),
			leaf(env, command("create -f FILE", "Register a product document (JSON or YAML)", "",
				"stackwave products create -f examples/kodo-double.json"), productsCreateCmd),
			leaf(env, command("update ID|NAME", "Change a product's name, provider, description, type, visibility or tags", "",
				"stackwave products update kodo-double --description 'two kodo stacks' --tag team=storage",
				"stackwave products update kodo-double --visibility public --revision 3"), productsUpdateCmd),
			leaf(env, command("delete ID|NAME", "Delete a product and its versions", "",
				"stackwave products delete kodo-double"), productsDeleteCmd),
		),
		group(env, &cobra.Command{Use: "versions", Short: "List a product's versions, activate or deactivate one, set its guidance"},
			leaf(env, command("list PRODUCT", "List a product's versions", "",
				"stackwave versions list kodo-double"), versionsListCmd),
			leaf(env, command("get VERSION", "Show a version", "",
				"stackwave versions get pv-0123456789abcdef -o yaml"), versionsGetCmd),
			leaf(env, command("activate VERSION", "Let deployments launch or update to a version", "",
				"stackwave versions activate pv-0123456789abcdef"), versionsPatchCmd("activate", setActive(true), 1, "one version ID")),
			leaf(env, command("deactivate VERSION", "Refuse launches and updates to a version", "",
				"stackwave versions deactivate pv-0123456789abcdef"), versionsPatchCmd("deactivate", setActive(false), 1, "one version ID")),
			leaf(env, command("guidance VERSION Default|Recommended|Latest|Deprecated|none", "Set a version's guidance", "",
				"stackwave versions guidance pv-0123456789abcdef Recommended"), versionsPatchCmd("guidance", setGuidance, 2, "a version ID and a guidance")),
			leaf(env, command("create PRODUCT -f FILE", "Add a version to a product (JSON or YAML)", "",
				"stackwave versions create kodo-double -f v2.yaml"), versionsCreateCmd),
			leaf(env, command("delete VERSION", "Delete a version no deployment uses", "",
				"stackwave versions delete pv-0123456789abcdef"), versionsDeleteCmd),
		),
		group(env, &cobra.Command{Use: "templates", Short: "Register and show templates of stack_deps that versions refer to"},
			leaf(env, command("create -f FILE", "Register a template", "",
				"stackwave templates create -f template.yaml"), templatesCreateCmd),
			leaf(env, command("get ID|URL", "Show a template", "",
				"stackwave templates get tpl-0123456789abcdef"), templatesGetCmd),
		),
		leaf(env, command("restart NAME STACK", "Restart a stack's services", "",
			"stackwave restart shop kodo-1", "stackwave restart shop kodo-1 --server http://127.0.0.1:8080 --detach"), stackOpCmd(store.OpRestart)),
		leaf(env, command("stop NAME STACK", "Stop a stack's services, keeping them", "",
			"stackwave stop shop kodo-2"), stackOpCmd(store.OpStop)),
		leaf(env, command("start NAME STACK", "Start a stopped stack's services", "",
			"stackwave start shop kodo-2"), stackOpCmd(store.OpStart)),
		leaf(env, command("scale NAME STACK/SERVICE N", "Set the number of instances of a service", "",
			"stackwave scale shop kodo-1/authproxy-in 3"), scaleCmd),
		group(env, &cobra.Command{Use: "deployments", Aliases: []string{"deployment"}, Short: "List deployments, show one, or its history of operations"},
			leaf(env, command("list", "List deployments", "",
				"stackwave deployments list", "stackwave deployments list -o json"), deploymentsListCmd),
			leaf(env, command("get NAME", "Show a deployment (as status does)", "",
				"stackwave deployments get shop -o yaml"), statusCmd),
			leaf(env, command("history NAME", "List a deployment's operations, oldest first", "",
				"stackwave deployments history shop"), historyCmd),
			leaf(env, command("delete NAME", "Delete a terminated deployment's record and history", "",
				"stackwave deployments delete shop"), deploymentsDeleteCmd),
			leaf(env, command("reconcile NAME --pause|--resume", "Pause or resume the repair of a deployment's drift (serve --reconcile)", "",
				"stackwave deployments reconcile shop --pause", "stackwave deployments reconcile shop --resume"), deploymentsReconcileCmd),
		),
		leaf(env, command("events NAME", "Show the events of a deployment's operation, live with --follow", `events prints the events of a deployment's last operation (or --operation).
With --follow it waits for the events of a running operation until it ends.
Each event has a sequence number: --after-seq N resumes after event N, as a
broken connection does.`,
			"stackwave events shop", "stackwave events shop --follow", "stackwave events shop --operation op-0123 --after-seq 12 -o json"), eventsCmd),
		leaf(env, command("logs NAME [STACK[/SERVICE[/INSTANCE]]]", "Print what a deployment's services wrote to stdout and stderr", `logs prints the lines the instances of a deployment wrote, read through the
runtime (the Docker engine's container logs, the pods' logs, the simulated
runtime's lines): every instance of the deployment, of a stack, of a service,
or one instance. Each text line reads "INSTANCE | TEXT"; -o json prints the
records of GET /api/deployments/NAME/logs, one a line. Without --follow the
output stops at 10 000 lines or 8 MiB, as a server's response does.`,
			"stackwave logs shop", "stackwave logs shop kodo-1/authproxy-in --tail 20 --timestamps", "stackwave logs shop kodo-1 --follow --since 10m -o json"), logsCmd),
		leaf(env, command("version", "Print the module version, commit and Go version", "",
			"stackwave version", "stackwave --version"), versionCmd),
	)
	return root
}

// command returns a command with its usage, its short and long help and
// examples, one command line each.
func command(use, short, long string, examples ...string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Long: long, Example: "  " + strings.Join(examples, "\n  ")}
}

// longNames are the long names of the one-letter flags, which are also
// their shorthands: -f and --file are one flag.
var longNames = map[string]string{"f": "file", "o": "output", "q": "query"}

// leaf makes c run the command build returns, with the flags build
// defines.
func leaf(env *cliEnv, c *cobra.Command, build func(fs *flag.FlagSet, env *cliEnv) runner) *cobra.Command {
	name, _, _ := strings.Cut(c.Use, " ")
	gfs := flag.NewFlagSet(name, flag.ContinueOnError)
	run := build(gfs, env)
	gfs.VisitAll(func(f *flag.Flag) {
		pf := pflag.PFlagFromGoFlag(f)
		if long, ok := longNames[f.Name]; ok {
			pf.Name, pf.Shorthand = long, f.Name
		}
		c.Flags().AddFlag(pf)
	})
	c.RunE = func(_ *cobra.Command, args []string) error {
		if code := run(args); code != exitOK {
			return exitCode(code)
		}
		return nil
	}
	return c
}

// group makes c the parent of subs; c alone is a usage error.
func group(env *cliEnv, c *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	c.AddCommand(subs...)
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("unknown command %q for %q", args[0], c.CommandPath())
		}
		c.SetOut(env.stderr)
		c.Usage()
		return exitCode(exitUsage)
	}
	return c
}

// wantArgs checks that a command got want positional arguments.
func wantArgs(env *cliEnv, cmd string, args []string, want int, what string) ([]string, int, bool) {
	if len(args) == want {
		return args, exitOK, true
	}
	if want == 0 || len(args) > want {
		env.errorf("%s: unexpected argument %q", cmd, args[want])
	} else {
		env.errorf("%s: want %s", cmd, what)
	}
	fmt.Fprintf(env.stderr, "Run 'stackwave %s --help' for usage.\n", cmd)
	return nil, exitUsage, false
}
