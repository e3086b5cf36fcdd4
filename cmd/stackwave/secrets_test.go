package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/storeurl"
)

// TestServeSealsSecrets serves a SQLite store with --secret-key-file: an
// env value of a registered product is nowhere in the store's files, the
// API answers it in clear, a key file others may read is refused, and a
// rotation with --reseal keeps it readable under the new key alone.
func TestServeSealsSecrets(t *testing.T) {
	dir := t.TempDir()
	newKey := func() string {
		k := make([]byte, 32)
		rand.Read(k)
		return base64.StdEncoding.EncodeToString(k)
	}
	k1, k2 := newKey(), newKey()
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, []byte(k1+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "state", "sw.db")
	storeURL := "sqlite:" + db
	if code, _, errOut := cli(t, "", "serve", "--runtime", "memory", "--store", storeURL, "--secret-key-file", keys); code != 2 || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("a key file others may read: exit %d, %s", code, errOut)
	}
	if err := os.Chmod(keys, 0o600); err != nil {
		t.Fatal(err)
	}

	const secret = "pa55w0rd-at-rest"
	doc := writeFile(t, "secret.json", `{"product_name": "secretive", "stack_deps": [[{"stack_name": "web", "services": [
  {"service_name": "app", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.27"}, "envs": ["DB_PASSWORD=`+secret+`"]}]}]]}`)
	s := serve(t, "--runtime", "memory", "--store", storeURL, "--secret-key-file", keys)
	if code, out, errOut := s.client(t, nil, "products", "create", "-f", doc); code != 0 {
		t.Fatalf("create: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := s.client(t, nil, "products", "get", "secretive", "-o", "json"); code != 0 || !strings.Contains(out, "DB_PASSWORD=<redacted>") {
		t.Errorf("the API does not read the product: exit %d\n%s", code, out)
	}
	s.stop()
	if got := storedEnv(t, storeURL, keys); got != "DB_PASSWORD="+secret {
		t.Errorf("the store with the key reads %q", got)
	}
	files, _ := filepath.Glob(db + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret in clear", filepath.Base(f))
		}
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(f), fi.Mode().Perm())
		}
	}

	// Rotation: the new key first, the old one after it, --reseal; then
	// the new key alone reads everything.
	if err := os.WriteFile(keys, []byte(k2+"\n"+k1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = serve(t, "--runtime", "memory", "--store", storeURL, "--secret-key-file", keys, "--reseal")
	s.stop()
	if !strings.Contains(s.stderr.String(), "re-sealed 1 records") {
		t.Errorf("--reseal said:\n%s", s.stderr)
	}
	if err := os.WriteFile(keys, []byte(k2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := storedEnv(t, storeURL, keys); got != "DB_PASSWORD="+secret {
		t.Errorf("after the rotation, the new key alone reads %q", got)
	}
}

// storedEnv opens the store with the keys and returns the env of the
// product's first version.
func storedEnv(t *testing.T, storeURL, keyFile string) string {
	t.Helper()
	keys, err := store.ReadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storeurl.OpenOptions(t.Context(), storeURL, &store.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.GetProduct(t.Context(), "secretive")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := st.ListVersions(t.Context(), p.ID, store.VersionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return vs[0].StackDeps[0][0].Services[0].Envs[0]
}
