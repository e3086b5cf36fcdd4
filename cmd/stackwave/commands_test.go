package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// commandLine is one line of TestEveryCommandBothModes.
type commandLine struct {
	// global: the command uses no store or runtime; it gets the mode's
	// global flags only.
	global bool
	args   []string
	// code is the exit code both modes must give.
	code int
}

// leafCommands returns the paths ("deployments list") of the commands of
// the tree that run something, cobra's help and completion included.
func leafCommands() []string {
	root := newRoot(&cliEnv{stdin: strings.NewReader(""), stdout: &strings.Builder{}, stderr: &strings.Builder{}})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var out []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.HasSubCommands() && c.Runnable() && !c.Hidden && c != root {
			out = append(out, strings.TrimPrefix(c.CommandPath(), "stackwave "))
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	slices.Sort(out)
	return out
}

// TestEveryCommandBothModes runs every command of the tree on the local
// store and against a real `stackwave serve` process: the exit codes and
// outputs must be the same in both modes, and the exit codes as the
// table says. A command added to the tree must be added to the table.
func TestEveryCommandBothModes(t *testing.T) {
	tpl := writeFile(t, "proxy.conf", seedTemplate)
	cfg := "/authproxy_in/qboxauthproxy.conf=" + tpl
	doc := seedWithDB(t)
	var seedDoc struct {
		StackDeps json.RawMessage `json:"stack_deps"`
	}
	if err := json.Unmarshal([]byte(seed(t)), &seedDoc); err != nil {
		t.Fatal(err)
	}
	tplDoc := writeFile(t, "template.json", fmt.Sprintf(`{"description": "kodo", "stack_deps": %s}`, seedDoc.StackDeps))
	versionDoc := writeFile(t, "v2.json", fmt.Sprintf(`{"version_name": "v2", "guidance": "Latest", "stack_deps": %s}`, seedDoc.StackDeps))
	other := writeFile(t, "other.json", strings.Replace(seed(t), `"product_name": "kodo-double"`, `"product_name": "other"`, 1))
	lines := []commandLine{
		{global: true, args: []string{"validate", "-f", doc}},
		{global: true, args: []string{"validate", "-f", doc, "-o", "yaml"}},
		{global: true, args: []string{"plan", "-f", doc}},
		{args: []string{"plan", "-f", doc, "--name", "shop", "--config", cfg}},
		{args: []string{"apply", "-f", doc, "--name", "shop", "--config", cfg, "--progress", "none"}},
		{args: []string{"apply", "-f", doc, "--name", "shop", "--config", cfg, "--progress", "none", "--policy", "later"}, code: 2},
		{args: []string{"plan", "-f", doc, "--name", "shop", "--config", cfg, "-o", "yaml"}},
		{args: []string{"status", "shop", "-o", "json"}},
		{args: []string{"status", "shop", "-o", "bogus"}, code: 2},
		{args: []string{"products", "list"}},
		{args: []string{"products", "list", "-o", "json"}},
		{args: []string{"products", "get", "kodo-double"}},
		{args: []string{"products", "get", "nope"}, code: 3},
		{args: []string{"products", "create", "-f", doc}}, // a version with the same spec: the same one
		{args: []string{"products", "create", "-f", other}},
		{args: []string{"products", "update", "other", "--description", "the other one", "--tag", "team=storage"}},
		{args: []string{"products", "update", "other", "--revision", "1"}, code: 4},
		{args: []string{"products", "update", "nope", "--type", "x"}, code: 3},
		{args: []string{"products", "delete", "other"}},
		{args: []string{"products", "delete", "other"}, code: 3},
		{args: []string{"versions", "list", "kodo-double"}},
		{args: []string{"versions", "list", "kodo-double", "-o", "yaml"}},
		{args: []string{"versions", "get", "pv-0000000000000000"}, code: 3},
		{args: []string{"versions", "activate", "pv-0000000000000000"}, code: 3},
		{args: []string{"versions", "deactivate", "pv-0000000000000000"}, code: 3},
		{args: []string{"versions", "guidance", "pv-0000000000000000", "Recommended"}, code: 3},
		{args: []string{"versions", "guidance", "pv-0000000000000000", "Best"}, code: 2},
		{args: []string{"versions", "delete", "pv-0000000000000000"}, code: 3},
		{args: []string{"versions", "create", "kodo-double", "-f", versionDoc}},
		{args: []string{"versions", "create", "kodo-double", "-f", versionDoc}, code: 4},
		{args: []string{"versions", "create", "kodo-double", "-f", tplDoc}, code: 2},
		{args: []string{"templates", "create", "-f", tplDoc}},
		{args: []string{"templates", "get", "tpl-0000000000000000"}, code: 3},
		{args: []string{"restart", "shop", "kodo-1", "--progress", "none"}},
		{args: []string{"stop", "shop", "kodo-2", "--progress", "none"}},
		{args: []string{"status", "shop"}, code: 1},
		{args: []string{"start", "shop", "kodo-2", "--progress", "none"}},
		{args: []string{"scale", "shop", "kodo-1/authproxy-in", "2", "--progress", "none"}},
		{args: []string{"deployments", "list", "-o", "yaml"}},
		{args: []string{"deployments", "get", "shop"}},
		{args: []string{"deployments", "history", "shop", "-o", "json"}},
		{args: []string{"events", "shop", "-o", "yaml"}},
		{args: []string{"events", "shop", "--follow"}},
		{args: []string{"logs", "shop", "kodo-1"}},
		{args: []string{"logs", "shop", "-o", "bogus"}, code: 2},
		{args: []string{"deployments", "reconcile", "shop", "--pause"}},
		{args: []string{"deployments", "reconcile", "shop", "--resume"}},
		{args: []string{"deployments", "reconcile", "shop"}, code: 2},
		{args: []string{"deployments", "reconcile", "nope", "--pause"}, code: 3},
		{args: []string{"deployments", "delete", "shop"}, code: 4},
		{args: []string{"destroy", "shop", "--progress", "none"}},
		{args: []string{"deployments", "delete", "shop"}},
		{args: []string{"deployments", "delete", "shop"}, code: 3},
		{args: []string{"destroy", "nope", "--progress", "none"}, code: 3},
		{global: true, args: []string{"quickstart", "--runtime", "bogus"}, code: 2},
		{global: true, args: []string{"serve", "--addr", "192.0.2.1:8080"}, code: 2},
		{global: true, args: []string{"version", "-o", "json"}},
		{global: true, args: []string{"version", "-o", "bogus"}, code: 2},
		{global: true, args: []string{"completion", "bash"}},
		{global: true, args: []string{"completion", "zsh"}},
		{global: true, args: []string{"completion", "fish"}},
		{global: true, args: []string{"completion", "powershell"}},
		{global: true, args: []string{"help", "logs"}},
	}
	covered := map[string]bool{}
	for _, l := range lines {
		path := l.args[0]
		if len(l.args) > 1 && !strings.HasPrefix(l.args[1], "-") && slices.Contains([]string{"products", "versions", "templates", "deployments", "completion"}, path) {
			path += " " + l.args[1]
		}
		covered[path] = true
	}
	for _, leaf := range leafCommands() {
		if !covered[leaf] {
			t.Errorf("command %q is not in the table: add a line that runs it", leaf)
		}
	}

	run := func(m mode) string {
		var b strings.Builder
		for _, l := range lines {
			extra := m.args
			if l.global {
				extra = m.global
			}
			code, out, errOut := cli(t, "", append(slices.Clone(l.args), extra...)...)
			if code != l.code {
				t.Errorf("%s: stackwave %s: exit %d, want %d\n%s%s", m.name, strings.Join(l.args, " "), code, l.code, out, errOut)
			}
			fmt.Fprintf(&b, "$ stackwave %s\nexit %d\n%s\n", strings.Join(l.args, " "), code, normalize(out))
		}
		return b.String()
	}
	local := run(localMode(t))
	remote := run(remoteMode(t))
	sameInBothModes(t, local, remote)
	if os.Getenv("STACKWAVE_TRANSCRIPTS") != "" {
		t.Logf("%s", local)
	}
}

// TestApplyDetach: with --server, apply --detach prints the operation ID
// at once, and events --operation ID --follow follows it to its end.
func TestApplyDetach(t *testing.T) {
	tpl := writeFile(t, "proxy.conf", seedTemplate)
	m := remoteMode(t)
	code, out, errOut := m.run(t, "apply", "-f", seedWithDB(t), "--name", "shop", "--config", "/authproxy_in/qboxauthproxy.conf="+tpl, "--detach")
	id := strings.TrimSpace(out)
	if code != 0 || !idPattern.MatchString(id) || strings.Contains(id, "\n") {
		t.Fatalf("apply --detach: exit %d, want the operation ID alone:\n%s%s", code, out, errOut)
	}
	code, out, errOut = m.run(t, "events", "shop", "--operation", id, "--follow")
	if code != 0 || !strings.Contains(out, "operation-done: launch of kodo-double") {
		t.Fatalf("events --operation %s --follow: exit %d\n%s%s", id, code, out, errOut)
	}
	if code, out, _ := m.run(t, "status", "shop"); code != 0 || !strings.Contains(out, "Available") {
		t.Fatalf("status after the detached launch: exit %d\n%s", code, out)
	}
}

// TestEveryCommandHasExamples: help CMD shows examples for every command
// of stackwave's own (cobra's help and completion have their own text).
func TestEveryCommandHasExamples(t *testing.T) {
	for _, leaf := range leafCommands() {
		if leaf == "help" || strings.HasPrefix(leaf, "completion ") {
			continue
		}
		code, out, errOut := cli(t, "", append([]string{"help"}, strings.Fields(leaf)...)...)
		if code != 0 || !strings.Contains(out, "Examples:\n  stackwave "+strings.Fields(leaf)[0]) {
			t.Errorf("help %s: exit %d, no examples:\n%s%s", leaf, code, out, errOut)
		}
	}
}
