// Command stackwave validates, plans and deploys stackwave products.
//
//	stackwave validate -f product.json
//	stackwave plan -f product.json [-o text|json]
//	stackwave version
//
// Exit codes: 0 success, 1 the product breaks the rules (or the operation
// failed), 2 the document cannot be decoded or the command line is wrong.
package main

import (
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
}

func (e *cliEnv) errorf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "stackwave: "+format+"\n", args...)
}

func commands() []command {
	return []command{
		{"validate", "validate -f FILE        check a product document (FILE - reads stdin)", runValidate},
		{"plan", "plan -f FILE [-o text|json] [--name NAME]   show the start and teardown order, or what apply would change", runPlan},
		{"apply", "apply -f FILE --name NAME [--runtime R] [--policy P]   register the product and launch or update a deployment", runApply},
		{"status", "status NAME             show a deployment's stacks, services and endpoints", runStatus},
		{"destroy", "destroy NAME [--delete-data]   terminate a deployment, last tier first", runDestroy},
		{"version", "version                 print the version", runVersion},
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr}
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
