package runtime

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"

	"github.com/stackwave/stackwave/stack"
)

// ServiceHash identifies the configuration of one service of a stack spec:
// its spec without the instance count (scaling never replaces instances)
// and its rendered config files. Runtimes label what they create with it
// and replace a service exactly when it changes. Every runtime uses this
// function, so hashes mean the same everywhere.
//
// A field left at its zero value does not count, so a field added to
// stack.Service in a later release changes no hash until it is set and
// upgrading stackwave replaces nothing.
func ServiceHash(spec *StackSpec, svc *stack.Service) string {
	var buf [512]byte
	e := hashEncoder(buf[:0])
	e = e.str(0, "stackwave.service/v1")
	e = e.service(svc, false)
	e = e.files(spec.Files[svc.Name])
	return e.sum()
}

// StackHash identifies the whole configuration of a stack spec: every
// service's configuration and instance count, and the init scripts.
func StackHash(spec *StackSpec) string {
	var buf [2048]byte
	e := hashEncoder(buf[:0])
	e = e.str(0, "stackwave.stack/v1")
	for i := range spec.Stack.Services {
		svc := &spec.Stack.Services[i]
		e = e.begin(1)
		e = e.service(svc, true)
		e = e.files(spec.Files[svc.Name])
		e = e.end(1)
	}
	for i := range spec.Stack.InitScripts {
		s := &spec.Stack.InitScripts[i]
		e = e.begin(2)
		e = e.str(1, s.ServiceName)
		e = e.strs(2, s.Command)
		e = e.end(2)
	}
	return e.sum()
}

// hashEncoder writes values in a tagged, length-prefixed form (the shape
// of protocol buffers' wire format, with groups for nested values), so
// that distinct configurations never encode alike. Scalars at their zero
// value are left out; elements of lists always count, so [""] differs
// from [].
type hashEncoder []byte

const (
	wireVarint = 0
	wireBytes  = 2
	wireBegin  = 3
	wireEnd    = 4
)

// The methods return the extended encoder, like append, so that a
// buffer on the caller's stack stays there.

func (e hashEncoder) tag(field, wire int) hashEncoder {
	return binary.AppendUvarint(e, uint64(field)<<3|uint64(wire))
}

func (e hashEncoder) bytes(field int, b []byte) hashEncoder {
	e = binary.AppendUvarint(e.tag(field, wireBytes), uint64(len(b)))
	return append(e, b...)
}

func (e hashEncoder) str(field int, s string) hashEncoder {
	if s == "" {
		return e
	}
	return e.elem(field, s)
}

func (e hashEncoder) elem(field int, s string) hashEncoder {
	e = binary.AppendUvarint(e.tag(field, wireBytes), uint64(len(s)))
	return append(e, s...)
}

func (e hashEncoder) strs(field int, ss []string) hashEncoder {
	for _, s := range ss {
		e = e.elem(field, s)
	}
	return e
}

func (e hashEncoder) varint(field int, v int64) hashEncoder {
	if v == 0 {
		return e
	}
	return binary.AppendVarint(e.tag(field, wireVarint), v)
}

func (e hashEncoder) varints(field int, vs []int) hashEncoder {
	for _, v := range vs {
		e = binary.AppendVarint(e.tag(field, wireVarint), int64(v))
	}
	return e
}

func (e hashEncoder) begin(field int) hashEncoder { return e.tag(field, wireBegin) }
func (e hashEncoder) end(field int) hashEncoder   { return e.tag(field, wireEnd) }

// service encodes every field of svc; the instance count only when
// withInstances is set, as Replicas (zero and one are the same).
func (e hashEncoder) service(svc *stack.Service, withInstances bool) hashEncoder {
	e = e.str(1, svc.Name)
	e = e.str(2, svc.UnitType)
	if img := svc.Image; img != (stack.Image{}) {
		e = e.begin(3)
		e = e.str(1, img.Name)
		e = e.str(2, img.Tag)
		e = e.str(3, img.Digest)
		e = e.end(3)
	}
	e = e.strs(4, svc.Envs)
	e = e.strs(5, svc.Command)
	for _, v := range svc.VolumeArgs {
		e = e.begin(6)
		e = e.str(1, v.MountPath)
		e = e.str(2, v.UnitType)
		e = e.end(6)
	}
	for i := range svc.AccessPoints {
		ap := &svc.AccessPoints[i]
		e = e.begin(7)
		e = e.str(1, ap.Type)
		e = e.varints(2, ap.BackendPorts)
		e = e.str(3, ap.Proto)
		e = e.varints(4, ap.HostPorts)
		e = e.end(7)
	}
	e = e.strs(8, svc.ConfigPaths)
	if withInstances {
		e = e.varint(9, int64(svc.Replicas()))
	}
	if p := svc.Readiness; p != nil {
		e = e.begin(10)
		e = e.str(1, p.Type)
		e = e.varint(2, int64(p.Port))
		e = e.str(3, p.Path)
		e = e.varints(4, p.ExpectedCodes)
		e = e.strs(5, p.Command)
		e = e.varint(6, int64(p.Period))
		e = e.varint(7, int64(p.Timeout))
		e = e.end(10)
	}
	return e
}

// files encodes config files sorted by path.
func (e hashEncoder) files(files map[string][]byte) hashEncoder {
	if len(files) == 0 {
		return e
	}
	var buf [8]string
	paths := buf[:0]
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		e = e.begin(11)
		e = e.elem(1, p)
		e = e.bytes(2, files[p])
		e = e.end(11)
	}
	return e
}

func (e hashEncoder) sum() string {
	sum := sha256.Sum256(e)
	var out [7 + 32]byte
	copy(out[:], "sha256:")
	hex.Encode(out[7:], sum[:16])
	return string(out[:])
}
