package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/internal/dockertest"
)

// dockerSecrets are secret env values of every awkward kind: short,
// unicode, needing escapes (Docker quotes what it echoes), multi-line.
var dockerSecrets = map[string]string{
	"DB_PIN":         "77331",
	"ADMIN_PASSWORD": "pässwörd-ünïcødé-密码",
	"API_TOKEN":      "tab\there \"quoted\" back\\slash $dollar `tick`",
	"TLS_KEY":        "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34Gkx\n-----END KEY-----",
}

// secretForms are the forms of v that must show nowhere.
func secretForms(v string) []string {
	b, _ := json.Marshal(v)
	out := []string{v, strings.Trim(strconv.Quote(v), `"`), strings.Trim(string(b), `"`),
		base64.StdEncoding.EncodeToString([]byte(v))}
	for line := range strings.Lines(v) {
		if line = strings.TrimSpace(line); len(line) >= 6 {
			out = append(out, line)
		}
	}
	return out
}

// printerProduct is a product whose one container prints its environment
// and exits: the back-end's error then carries every value, as Docker and
// the container's last log lines show them.
func printerProduct(t *testing.T, name string) []byte {
	ref := dockertest.TestApp(t)
	image, tag, _ := strings.Cut(ref, ":")
	var envs []string
	for k, v := range dockerSecrets {
		envs = append(envs, k+"="+v)
	}
	doc, err := json.Marshal(map[string]any{"product_name": name, "stack_deps": [][]map[string]any{{{
		"stack_name": "app", "services": []map[string]any{{
			"service_name": "printer", "unit_type": "1U1G", "image": map[string]string{"name": image, "tag": tag},
			"command": []string{"env"}, "envs": envs,
			// Never ready: the container exits first, and the wait
			// reports it with its last log lines.
			"readiness_probe": map[string]any{"type": "exec", "command": []string{"/testapp", "probe", "tcp", "127.0.0.1:1"},
				"period": "200ms", "timeout": "20s"}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func checkNoSecret(t *testing.T, where, text string) {
	t.Helper()
	for k, v := range dockerSecrets {
		for _, f := range secretForms(v) {
			if strings.Contains(text, f) {
				t.Errorf("%s shows %s as %q:\n%s", where, k, f, text)
			}
		}
	}
}

// TestDockerSecretsNeverLeave runs a real container that prints its env
// and exits, once through `stackwave apply` and once through `stackwave
// serve`: no CLI output, response body, event or server log line shows
// any form of the secrets.
func TestDockerSecretsNeverLeave(t *testing.T) {
	cli := dockertest.Client(t)
	dir := t.TempDir()

	// The CLI.
	cleanupDeployment(t, cli, "leak-cli")
	doc := filepath.Join(dir, "printer.json")
	if err := os.WriteFile(doc, printerProduct(t, "printer-cli"), 0o600); err != nil {
		t.Fatal(err)
	}
	apply := exec.Command(stackwaveBinary(t), "apply", "-f", doc, "--name", "leak-cli", "--runtime", "docker",
		"--store", "sqlite:"+filepath.Join(dir, "cli.db"), "--progress", "plain", "--timeout", "3m")
	apply.Env = append(os.Environ(), dockerHostIPEnv+"=127.0.0.1")
	out, err := apply.CombinedOutput()
	if err == nil {
		t.Fatalf("apply of a container that exits succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "redacted") && !strings.Contains(string(out), "withheld") {
		t.Errorf("apply's output hides nothing; did the container print its env?\n%s", out)
	}
	checkNoSecret(t, "apply output", string(out))

	// The server.
	cleanupDeployment(t, cli, "leak-api")
	s := startServer(t, filepath.Join(dir, "serve.db"), freeAddr(t))
	var created struct {
		VersionID string `json:"product_version_id"`
	}
	var body map[string]any
	if err := json.Unmarshal(printerProduct(t, "printer-api"), &body); err != nil {
		t.Fatal(err)
	}
	s.call("POST", "/api/products", body, &created)
	var sub struct {
		OperationID string `json:"operation_id"`
	}
	s.call("POST", "/api/deployments", map[string]string{"name": "leak-api", "product_version_id": created.VersionID}, &sub)
	var texts []string
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/deployments/leak-api/events?operation_id="+sub.OperationID, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var stream strings.Builder
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		stream.WriteString(sc.Text() + "\n")
	}
	res.Body.Close()
	if !strings.Contains(stream.String(), "operation-failed") {
		t.Fatalf("the launch did not fail:\n%s", stream.String())
	}
	texts = append(texts, "events: "+stream.String())
	for _, p := range []string{"/api/deployments/leak-api", "/api/deployments", "/api/deployments/leak-api/operations",
		"/api/deployments/leak-api/operations/" + sub.OperationID, "/api/products/printer-api", "/api/versions/" + created.VersionID} {
		res, err := http.Get(s.url + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		texts = append(texts, p+": "+string(b))
	}
	if !strings.Contains(strings.Join(texts, ""), "redacted") {
		t.Errorf("no answer hides anything; did the container print its env?\n%s", strings.Join(texts, "\n"))
	}
	texts = append(texts, "server log: "+s.output())
	for _, txt := range texts {
		checkNoSecret(t, "the server", txt)
	}
}
