package redact_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/internal/redact"
)

// TestOverlappingValues: where hidden values overlap in a text, every
// byte of each is hidden, and the run they cover shows as one marker.
func TestOverlappingValues(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	m := redact.Marker
	for _, tc := range []struct {
		name    string
		secrets []redact.Secret
		in      string
		want    string
	}{{
		name:    "an ordinary value's end starts a secret",
		secrets: []redact.Secret{{"REGION", "cluster-eu"}, {"PASSWORD", "eu-s3cret"}},
		in:      "at cluster-eu-s3cret now",
		want:    "at " + m + " now",
	}, {
		name:    "two secrets",
		secrets: []redact.Secret{{"PASSWORD", "abc-secret1"}, {"TOKEN", "secret1-xyz"}},
		in:      "abc-secret1-xyz",
		want:    m,
	}, {
		name:    "the later secret listed first",
		secrets: []redact.Secret{{"TOKEN", "secret1-xyz"}, {"PASSWORD", "abc-secret1"}},
		in:      "abc-secret1-xyz",
		want:    m,
	}, {
		name:    "a chain of three",
		secrets: []redact.Secret{{"A_TOKEN", "aaa-bbb"}, {"B_TOKEN", "bbb-ccc"}, {"C_TOKEN", "ccc-ddd"}},
		in:      "[aaa-bbb-ccc-ddd]",
		want:    "[" + m + "]",
	}, {
		name:    "base64 of overlapping secrets",
		secrets: []redact.Secret{{"PASSWORD", "abc-secret1"}, {"TOKEN", "secret1-xyz"}},
		in:      "b64: " + b64([]byte("abc-secret1-xyz")),
		want:    "b64: " + m,
	}, {
		name:    "base64 at another alignment",
		secrets: []redact.Secret{{"PASSWORD", "abc-secret1"}, {"TOKEN", "secret1-xyz"}},
		// The groups of three bytes that mix in "Q" or the padding
		// depend on more than the values.
		in:   "b64: " + b64([]byte("Qabc-secret1-xyz")),
		want: "b64: UWFi" + m + "eg==",
	}, {
		name:    "Go-quoted, the overlap escaped",
		secrets: []redact.Secret{{"PASSWORD", `abc"secret1`}, {"TOKEN", `secret1"xyz`}},
		in:      fmt.Sprintf("bad env %q", `abc"secret1"xyz`),
		want:    `bad env "` + m + `"`,
	}, {
		name:    "JSON-escaped",
		secrets: []redact.Secret{{"PASSWORD", "abc<secret1"}, {"TOKEN", "secret1>xyz"}},
		in:      jsonOf("abc<secret1>xyz"),
		want:    `{"v":"` + m + `"}`,
	}, {
		name:    "URL-encoded",
		secrets: []redact.Secret{{"PASSWORD", "abc secret1"}, {"TOKEN", "secret1&xyz"}},
		in:      "GET /?q=" + url.QueryEscape("abc secret1&xyz"),
		want:    "GET /?q=" + m,
	}, {
		name:    "a short value as KEY=value runs into a secret",
		secrets: []redact.Secret{{"LOG_LEVEL", "info"}, {"PASSWORD", "fo-pw"}},
		in:      "env LOG_LEVEL=info-pw",
		want:    "env LOG_LEVEL=" + m,
	}, {
		name:    "values apart stay apart",
		secrets: []redact.Secret{{"PASSWORD", "abc-secret1"}, {"TOKEN", "secret1-xyz"}},
		in:      "abc-secret1 and secret1-xyz",
		want:    m + " and " + m,
	}, {
		name:    "values that touch show as one",
		secrets: []redact.Secret{{"PASSWORD", "abc-secret1"}, {"TOKEN", "secret1-xyz"}},
		in:      "abc-secret1secret1-xyz",
		want:    m,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := redact.New(tc.secrets...)
			if got := r.String(tc.in); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestOverlapWithKeptName: a secret whose start lies in a kept name
// hides its whole self, and the name is not kept in that text.
func TestOverlapWithKeptName(t *testing.T) {
	r := redact.NewKeeping([]string{"mysql-cluster-eu"},
		redact.Secret{"DB_HOST", "cluster"},
		redact.Secret{"PASSWORD", "eu-s3cret"},
		redact.Secret{"TOKEN", "s3cret-tail"},
	)
	for in, want := range map[string]string{
		"stack mysql-cluster-eu ready":        "stack mysql-cluster-eu ready",
		"stack mysql-cluster-eu-s3cret-tail!": "stack mysql-" + redact.Marker + "-" + redact.Marker + "!",
		"mysql-cluster-eu, eu-s3cret-tail":    "mysql-cluster-eu, " + redact.Marker,
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func jsonOf(v string) string {
	b, _ := json.Marshal(map[string]string{"v": v})
	return string(b)
}

// encodings print a text the ways back-ends do, for FuzzOverlap.
var encodings = []func(string) string{
	func(s string) string { return s },
	strconv.Quote,
	strconv.QuoteToASCII,
	jsonOf,
	url.QueryEscape,
	func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	func(s string) string { return base64.URLEncoding.EncodeToString([]byte("x" + s)) },
	func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte("xy" + s)) },
}

// FuzzOverlap builds texts in which two values overlap (the second
// starts with the last bytes of the first), prints them in one of the
// ways back-ends do, between random text, and checks:
//
//   - every byte of every occurrence of every form (Forms) of a value
//     hidden wherever it occurs (a secret one, or an ordinary one of
//     MinLength bytes or more, when no name is kept) lies inside one
//     run that String shows as Marker: no window of a hidden value, of
//     any length, shows;
//   - String shows exactly those runs as Marker, the rest unchanged, or
//     withholds a text that holds escapes;
//   - no form of a secret value shows between the markers.
func FuzzOverlap(f *testing.F) {
	f.Add("cluster-eu", "-s3cret", uint8(2), uint8(0), false, true, "", "at ", " now")
	f.Add("abc-secret1", "-xyz", uint8(6), uint8(0), true, true, "", "", "")
	f.Add("abc-secret1", "-xyz", uint8(6), uint8(5), true, true, "", "b64: ", "")
	f.Add(`abc"secret1`, `"xyz`, uint8(6), uint8(1), true, true, "", "env ", "")
	f.Add("mysql-cluster-eu", "-s3cret", uint8(1), uint8(0), false, true, "mysql-cluster-eu", "stack ", "")
	f.Fuzz(func(t *testing.T, a, tail string, overlap, enc uint8, secretA, secretB bool, name, pre, post string) {
		if a == "" {
			return
		}
		o := 1 + int(overlap)%len(a)
		b := a[len(a)-o:] + tail
		keyA, keyB := "HOST", "REGION"
		if secretA {
			keyA = "PASSWORD"
		}
		if secretB {
			keyB = "TOKEN"
		}
		ss := []redact.Secret{{keyA, a}, {keyB, b}}
		text := pre + encodings[int(enc)%len(encodings)](a+tail) + post
		if strings.Contains(text, redact.Withheld) {
			return // the summary is left whole, whatever it holds
		}
		var names []string
		if name != "" {
			names = []string{name}
		}
		r := redact.NewKeeping(names, ss...)
		runs := redact.Runs(r, text)

		// Every occurrence of a hidden form lies in a run.
		for _, s := range ss {
			secret := redact.LooksSecret(s.Key) && !redact.IsSwitch(s.Value)
			if !secret && (len(s.Value) < redact.MinLength || name != "") {
				continue
			}
			for _, f := range redact.Forms(s.Value) {
				for from := 0; ; {
					i := strings.Index(text[from:], f)
					if i < 0 {
						break
					}
					i += from
					if !inRun(runs, i, i+len(f)) {
						t.Fatalf("%s=%q: form %q at %d of %q is not hidden: runs %v", s.Key, s.Value, f, i, text, runs)
					}
					from = i + 1
				}
			}
		}

		// String shows the runs as markers, and nothing else changes.
		var want strings.Builder
		at := 0
		for i, run := range runs {
			if run[0] < at || run[1] <= run[0] || i > 0 && run[0] == at {
				t.Fatalf("runs %v of %q overlap, touch or are empty", runs, text)
			}
			want.WriteString(text[at:run[0]] + redact.Marker)
			at = run[1]
		}
		want.WriteString(text[at:])
		got := r.String(text)
		if got == redact.Withheld {
			if !strings.ContainsAny(want.String(), `\%`) {
				t.Fatalf("%q withheld without escapes", text)
			}
			return
		}
		if got != want.String() {
			t.Fatalf("String(%q) = %q, runs %v make %q", text, got, runs, want.String())
		}

		// No form of a secret shows between the markers.
		for _, s := range ss {
			if !redact.LooksSecret(s.Key) || redact.IsSwitch(s.Value) {
				continue
			}
			for piece := range strings.SplitSeq(got, redact.Marker) {
				for _, f := range redact.Forms(s.Value) {
					if strings.Contains(piece, f) {
						t.Fatalf("%s=%q: form %q shows in %q", s.Key, s.Value, f, got)
					}
				}
			}
		}
	})
}

func inRun(runs [][2]int, start, end int) bool {
	for _, r := range runs {
		if r[0] <= start && end <= r[1] {
			return true
		}
	}
	return false
}
