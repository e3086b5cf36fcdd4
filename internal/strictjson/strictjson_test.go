package strictjson

import (
	"errors"
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	data := []byte("ab\ncd\n\nef")
	for _, c := range []struct {
		off       int64
		line, col int
	}{{0, 1, 1}, {1, 1, 2}, {3, 2, 1}, {4, 2, 2}, {6, 3, 1}, {7, 4, 1}, {9, 4, 3}, {-5, 1, 1}, {99, 4, 3}} {
		if line, col := Line(data, c.off); line != c.line || col != c.col {
			t.Errorf("Line(%d) = %d:%d, want %d:%d", c.off, line, col, c.line, c.col)
		}
	}
}

func TestJoin(t *testing.T) {
	for _, c := range []struct{ path, key, want string }{
		{"", "a", "a"}, {"a", "b_c-1", "a.b_c-1"}, {"a[0]", "x", "a[0].x"},
		{"a", "b.c", `a["b.c"]`}, {"", "x y", `["x y"]`}, {"a", "", `a[""]`}, {"a", "\n", `a["\n"]`},
	} {
		if got := Join(c.path, c.key); got != c.want {
			t.Errorf("Join(%q, %q) = %s, want %s", c.path, c.key, got, c.want)
		}
	}
}

type inner struct {
	N int `json:"n"`
}

type outer struct {
	Name  string            `json:"name"`
	Items []inner           `json:"items"`
	Tags  map[string]string `json:"tags"`
	Ptr   *inner            `json:"ptr"`
}

func TestDecode(t *testing.T) {
	var v outer
	if err := Decode([]byte(` {"name": "x", "items": [{"n": 1}], "tags": {"a": "b"}, "ptr": null} `), &v); err != nil || v.Items[0].N != 1 {
		t.Fatalf("%v %+v", err, v)
	}
	for _, c := range []struct{ in, path, msg string }{
		{`{"name": "x", "itemz": []}`, "itemz", `unknown field "itemz"`},
		{`{"items": [{"n": 1}, {"m": 2}]}`, "items[1].m", `unknown field "m"`},
		{`{"items": [{"n": "1"}]}`, "items[0].n", `expected integer, got string "1"`},
		{`{"items": [{"n": 1.5}]}`, "items[0].n", "expected integer, got number 1.5"},
		{`{"tags": {"a.b": 1}}`, `tags["a.b"]`, "expected string, got number 1"},
		{`{"ptr": {"x": 1}}`, "ptr.x", `unknown field "x"`},
		{`{"name": ["` + strings.Repeat("é", 30) + `"]}`, "name", "expected string, got array"},
		{`{"name": "` + strings.Repeat("é", 30) + `", "items": "` + strings.Repeat("é", 30) + `"}`, "items", `expected array, got string "` + strings.Repeat("é", 20) + `..."`},
		{`{} {}`, "", "unexpected data after the top-level value"},
		{`{"name": }`, "", "malformed JSON"},
		{`{"name": "x"`, "", "malformed JSON: unexpected end of input"},
		{``, "", "malformed JSON: unexpected end of input"},
	} {
		var v outer
		err := Decode([]byte(c.in), &v)
		var e *Error
		if !errors.As(err, &e) || e.Path != c.path || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%s: got %v, want %q: %s", c.in, err, c.path, c.msg)
		}
	}
}
