// Command stackwave validates, plans and deploys stackwave products, and
// serves the control-plane API.
//
//	stackwave validate -f product.json
//	stackwave plan -f product.json [-o text|json]
//	stackwave serve [--addr 127.0.0.1:8080] [--store sqlite:stackwave.db] [--runtime docker|kube|memory] [--tokens FILE --policy FILE] [--lease-ttl 30s]
//	                [--access-keys FILE] [--max-services N --max-tiers N --max-stacks-per-tier N --max-envs-per-service N
//	                 --max-instances-per-service N --max-instances N --max-ports N --max-document-bytes N]
//	stackwave products list|get|create|delete [--server URL]
//	stackwave version
//
// serve answers the HTTP API of package api until SIGINT or SIGTERM, then
// finishes the requests in flight. At start and every --lease-ttl it
// resumes the operations of replicas that died, once their lease has
// expired. Without --policy every caller may do everything, so it listens
// on loopback only. The products commands are
// a client of that API: --server (or STACKWAVE_SERVER) names the server,
// --token-file (or STACKWAVE_TOKEN) the bearer token.
//
// Exit codes: 0 success, 1 the product breaks the rules (or the operation
// or the request failed), 2 the document cannot be decoded or the command
// line is wrong.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

type command struct {
	name  string
	usage string
	run   func(args []string, env *cliEnv) int
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
	fmt.Fprintf(e.stderr, "stackwave: "+format+"\n", args...)
}

func commands() []command {
	return []command{
		{"validate", "validate -f FILE        check a product document (FILE - reads stdin)", runValidate},
		{"plan", "plan -f FILE [-o text|json] [--name NAME]   show the start and teardown order, or what apply would change", runPlan},
		{"apply", "apply -f FILE --name NAME [--runtime R] [--policy P]   register the product and launch or update a deployment", runApply},
		{"quickstart", "quickstart [--runtime memory]   build a demo image and deploy a kodo-double-shaped product", runQuickstart},
		{"status", "status NAME             show a deployment's stacks, services and endpoints", runStatus},
		{"destroy", "destroy NAME [--delete-data]   terminate a deployment, last tier first", runDestroy},
		{"serve", "serve [--addr ADDR] [--store URL] [--runtime docker|kube|memory] [--tokens FILE --policy FILE]\n" +
			"                          serve the control-plane API", runServe},
		{"products", "products list|get|create|delete [--server URL]   call the API's product routes", runProducts},
		{"version", "version                 print the version", runVersion},
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(args, &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr})
}

func runEnv(args []string, env *cliEnv) int {
	stderr := env.stderr
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], env)
		}
	}
	env.errorf("unknown command %q", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: stackwave COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintln(w, "  "+c.usage)
	}
}
