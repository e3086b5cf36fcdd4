package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/stackwave/stackwave/stack"
)

// ServiceHash identifies the configuration of one service of a stack spec:
// its spec without the instance count (scaling never replaces instances)
// and its rendered config files. Runtimes label what they create with it
// and replace a service exactly when it changes. Every runtime uses this
// function, so hashes mean the same everywhere.
func ServiceHash(spec *StackSpec, svc *stack.Service) string {
	h := sha256.New()
	s := *svc
	s.Instances = 0
	b, _ := json.Marshal(&s) // stack types always marshal
	h.Write(b)
	files := spec.Files[svc.Name]
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		h.Write([]byte("\x00file\x00" + p + "\x00" + strconv.Itoa(len(files[p])) + "\x00"))
		h.Write(files[p])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}

// StackHash identifies the whole configuration of a stack spec: every
// service's hash and instance count, and the init scripts.
func StackHash(spec *StackSpec) string {
	h := sha256.New()
	for i := range spec.Stack.Services {
		svc := &spec.Stack.Services[i]
		h.Write([]byte(svc.Name + "\x00" + ServiceHash(spec, svc) + "\x00" + strconv.Itoa(svc.Replicas()) + "\x00"))
	}
	b, _ := json.Marshal(spec.Stack.InitScripts)
	h.Write(b)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}
