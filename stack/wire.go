package stack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/stackwave/stackwave/internal/strictjson"
)

// UnmarshalJSON decodes stack_deps strictly: unknown fields are errors,
// naming their path. Besides the canonical form it accepts what real
// documents contain: envs as an object of names to values, and a single
// access point as "access_point" instead of an "access_points" list (both
// may be given; the single one comes first).
func (d *Deps) UnmarshalJSON(b []byte) error {
	var w []wireTier
	if err := strictjson.Decode(b, &w); err != nil {
		return err
	}
	if w == nil {
		*d = nil
		return nil
	}
	deps := make(Deps, len(w))
	n := 0
	for _, t := range w {
		n += len(t)
	}
	stacks := make([]Stack, n) // one allocation for every stack
	for i, t := range w {
		tier := stacks[:len(t):len(t)]
		stacks = stacks[len(t):]
		for j := range t {
			ws := &t[j]
			s := &tier[j]
			s.Name, s.DependsOn, s.InitScripts = ws.Name, ws.DependsOn, ws.InitScripts
			if ws.Services != nil {
				s.Services = make([]Service, len(ws.Services))
			}
			for k := range ws.Services {
				s.Services[k] = ws.Services[k].service()
			}
		}
		deps[i] = tier
	}
	*d = deps
	return nil
}

type wireTier []wireStack

type wireStack struct {
	Name        string        `json:"stack_name"`
	Services    []wireService `json:"services"`
	DependsOn   []string      `json:"depends_on"`
	InitScripts []InitScript  `json:"init_scripts"`
}

type wireService struct {
	Service
	Envs        wireEnvs     `json:"envs"`
	AccessPoint *AccessPoint `json:"access_point"`
}

func (w *wireService) service() Service {
	s := w.Service
	s.Envs = w.Envs
	if w.AccessPoint != nil {
		aps := make([]AccessPoint, 0, 1+len(s.AccessPoints))
		s.AccessPoints = append(append(aps, *w.AccessPoint), s.AccessPoints...)
	}
	return s
}

// wireEnvs is a list of "K=V" strings or an object of names to values.
type wireEnvs []string

func (e *wireEnvs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '[':
		var list []string
		if err := strictjson.Decode(b, &list); err != nil {
			return err
		}
		*e = list
		return nil
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return &strictjson.Error{Msg: "malformed JSON: " + err.Error()}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		list := make([]string, len(keys))
		for i, k := range keys {
			if strings.IndexByte(k, '=') >= 0 {
				// "K=V" could not tell this key from its value.
				return &strictjson.Error{Path: strictjson.Join("", k), Msg: "env names must not contain '='"}
			}
			v, err := scalar(obj[k])
			if err != nil {
				return &strictjson.Error{Path: strictjson.Join("", k), Msg: err.Error()}
			}
			list[i] = k + "=" + v
		}
		*e = list
		return nil
	case 'n':
		*e = nil
		return nil
	}
	return &strictjson.Error{Msg: "expected an array of \"KEY=VALUE\" strings or an object, got " + kind(b[0])}
}

// scalar renders an env value given as a string, number or boolean.
func scalar(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", fmt.Errorf("expected a string, number or boolean")
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case 't', 'f':
		return string(raw), nil
	case '{', '[', 'n':
		return "", fmt.Errorf("expected a string, number or boolean, got %s", kind(raw[0]))
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err != nil {
		return "", fmt.Errorf("expected a string, number or boolean")
	}
	return string(raw), nil
}

func kind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
