package imagebuild

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadBuildStream(t *testing.T) {
	ok := `{"stream":"Step 1/2 : FROM scratch\n"}
{"stream":"\n"}
{"stream":" ---\u003e \n"}
{"aux":{"ID":"sha256:abc"}}
{"stream":"Successfully built abc\n"}
`
	var log strings.Builder
	if err := readBuildStream(strings.NewReader(ok), &log); err != nil {
		t.Fatal(err)
	}
	if log.String() != "Step 1/2 : FROM scratch\n ---> \nSuccessfully built abc\n" {
		t.Fatalf("log %q", log.String())
	}

	failed := `{"stream":"Step 1/3 : FROM scratch\n"}
{"stream":"Step 2/3 : COPY missing /missing\n"}
{"errorDetail":{"message":"COPY failed: file not found in build context"},"error":"COPY failed: file not found in build context"}
`
	err := readBuildStream(strings.NewReader(failed), &log)
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("want a *BuildError, got %v", err)
	}
	if be.Message != "COPY failed: file not found in build context" || len(be.Output) != 2 {
		t.Fatalf("%+v", be)
	}
	if !strings.Contains(err.Error(), "last build output:\n  Step 1/3 : FROM scratch\n  Step 2/3 : COPY missing /missing") {
		t.Fatalf("error text:\n%v", err)
	}

	// Only the old "error" field.
	err = readBuildStream(strings.NewReader(`{"error":"boom"}`), &log)
	if !errors.As(err, &be) || be.Message != "boom" {
		t.Fatalf("old-style error: %v", err)
	}
	if err := readBuildStream(strings.NewReader(`{"stream":`), &log); err == nil {
		t.Fatal("truncated stream: want error")
	}
}

func TestDockerfile(t *testing.T) {
	df, err := dockerfile(Options{Binary: "app", Entrypoint: []string{"/app", "serve"}, Cmd: []string{"a b"}, User: "65534"})
	if err != nil {
		t.Fatal(err)
	}
	want := "FROM scratch\nCOPY app /app\nUSER 65534\nENTRYPOINT [\"/app\",\"serve\"]\nCMD [\"a b\"]\n"
	if df != want {
		t.Fatalf("got\n%s\nwant\n%s", df, want)
	}
	if got := labelLine(map[string]string{"b": `say "hi"`, "a": "1"}); got != `LABEL "a"="1" "b"="say \"hi\""`+"\n" {
		t.Fatalf("labelLine: %s", got)
	}
}

func TestHashPackage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.go", "package main\n")
	write("b.go", "package main // b\n")
	pkg := goPackage{ImportPath: "example.com/x", Dir: dir, GoFiles: []string{"b.go", "a.go"}}
	sum := func(p goPackage) string {
		h := sha256.New()
		if err := hashPackage(h, p); err != nil {
			t.Fatal(err)
		}
		return string(h.Sum(nil))
	}
	h1 := sum(pkg)
	pkg.GoFiles = []string{"a.go", "b.go"}
	if sum(pkg) != h1 {
		t.Fatal("file order changed the hash")
	}
	otherDir := t.TempDir()
	os.WriteFile(filepath.Join(otherDir, "a.go"), []byte("package main\n"), 0o644)
	os.WriteFile(filepath.Join(otherDir, "b.go"), []byte("package main // b\n"), 0o644)
	if sum(goPackage{ImportPath: "example.com/x", Dir: otherDir, GoFiles: []string{"a.go", "b.go"}}) != h1 {
		t.Fatal("the directory changed the hash")
	}
	write("b.go", "package main // changed\n")
	if sum(pkg) == h1 {
		t.Fatal("a content change kept the hash")
	}
	pkg.EmbedFiles = []string{"a.go"}
	if err := hashPackage(sha256.New(), goPackage{Dir: dir, GoFiles: []string{"gone.go"}}); err == nil {
		t.Fatal("missing file: want error")
	}
}

func TestDefaultDir(t *testing.T) {
	dir := defaultDir()
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !strings.HasPrefix(string(b), "module github.com/stackwave/stackwave\n") {
		t.Fatalf("defaultDir %s: go.mod %q %v", dir, b, err)
	}
}
