package redact_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/internal/redact"
)

// secrets is a set of values of every awkward kind.
var secrets = []redact.Secret{
	{"DB_PIN", "77331"},
	{"API_TOKEN", "s3cr3t-t0ken-value"},
	{"TLS_PRIVATE_KEY", "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\r\nline-two-of-key\n-----END KEY-----"},
	{"ADMIN_PASSWORD", "pässwörd-ünïcødé-密码"},
	{"DB_PASS", "nul\x00byte'quote\"dq\\bs$dollar`tick"},
	{"SHORT_SECRET", "q"},
	{"GREETING", "hello-world-value"},
}

// leaks prints v the ways back-ends do.
func leaks(v string) []string {
	out := []string{
		"value " + v + " refused",
		fmt.Sprintf("invalid env %q", v),
		fmt.Sprintf("invalid env %+q", v),
		"shell: sh -c 'echo " + strings.ReplaceAll(v, "'", `'\''`) + "'",
		"url: http://h/?p=" + url.QueryEscape(v) + "&x=1",
		"path: http://h/" + url.PathEscape(v) + "/x",
		"upper percent: " + strings.ToUpper(url.QueryEscape(v)),
	}
	if b, err := json.Marshal(map[string]string{"v": v}); err == nil {
		out = append(out, "json: "+string(b))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		for _, prefix := range []string{"", "a", "ab", "abc"} {
			out = append(out, "b64: "+enc.EncodeToString([]byte(prefix+v+"tail")))
		}
	}
	for line := range strings.Lines(v) {
		out = append(out, "line: "+strconv.Quote(strings.TrimRight(line, "\r\n")))
	}
	return out
}

func TestNoFormSurvives(t *testing.T) {
	r := redact.New(secrets...)
	for _, s := range secrets {
		for _, msg := range leaks(s.Value) {
			got := r.String(msg)
			if got == redact.Withheld {
				continue
			}
			for _, f := range redact.Forms(s.Value) {
				if len(s.Value) < 3 && !strings.Contains(got, s.Value) {
					continue
				}
				if strings.Contains(got, f) && !strings.Contains(redact.Marker, f) {
					t.Errorf("%s: %q\nredacted to %q\nstill holds %q", s.Key, msg, got, f)
				}
			}
		}
	}
}

func TestEscapedBeyondFormsIsWithheld(t *testing.T) {
	r := redact.New(redact.Secret{"PASSWORD", "abc\x00def"})
	// Octal escapes are no form of ours; the decoded text shows the value.
	if got := r.String(`bad value "abc\000def"`); got != redact.Withheld {
		t.Errorf("got %q, want it withheld", got)
	}
	if got := r.String(`bad value "abc\x00def"`); got != `bad value "<redacted>"` {
		t.Errorf("got %q", got)
	}
}

func TestPolicy(t *testing.T) {
	r := redact.New(
		redact.Secret{"PIN", "7"},
		redact.Secret{"LOG_LEVEL", "info"},
		redact.Secret{"MOTD", "welcome-all"},
		redact.Secret{"CONFIG", "a: 1\nlong-line-of-config\n}"},
	)
	for in, want := range map[string]string{
		"exit 17":                    "exit 1" + redact.Marker,
		"level info, LOG_LEVEL=info": "level info, LOG_LEVEL=" + redact.Marker,
		`env "LOG_LEVEL=info"`:       `env "LOG_LEVEL=` + redact.Marker + `"`,
		"say welcome-all":            "say " + redact.Marker,
		"cfg long-line-of-config }":  "cfg " + redact.Marker + " }",
		"nothing to hide, a: 1":      "nothing to hide, a: 1",
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIdempotent(t *testing.T) {
	r := redact.New(redact.Secret{"PIN", "e"}, redact.Secret{"PASSWORD", "withheld"})
	// "ee": two hidden values that touch show as one marker.
	once := r.String("see e and withheld")
	if once != "s"+redact.Marker+" "+redact.Marker+" and "+redact.Marker {
		t.Fatalf("once: %q", once)
	}
	if twice := r.String(once); twice != once {
		t.Fatalf("twice: %q", twice)
	}
	if r.String(redact.Withheld) != redact.Withheld {
		t.Fatal("the summary changed")
	}
}

func TestNil(t *testing.T) {
	var r *redact.Redactor
	if r.String("x") != "x" || r.Error(fs.ErrNotExist) != fs.ErrNotExist {
		t.Fatal("the nil Redactor changed its input")
	}
	if redact.New(redact.Secret{"A", ""}) != nil {
		t.Fatal("empty values make a Redactor")
	}
}

func TestErrorKeepsChain(t *testing.T) {
	r := redact.New(redact.Secret{"TOKEN", "tok"})
	err := r.Error(fmt.Errorf("open tok: %w", fs.ErrNotExist))
	if err.Error() != "open "+redact.Marker+": file does not exist" {
		t.Errorf("message %q", err)
	}
	if !errors.Is(err, fs.ErrNotExist) || !redact.Redacted(err) {
		t.Error("the chain is lost")
	}
}

func TestLooksSecret(t *testing.T) {
	for k, want := range map[string]bool{
		"DB_PASSWORD": true, "api_key": true, "PIN": true, "GitHubToken": true,
		"PORT": false, "LOG_LEVEL": false, "HOST": false,
	} {
		if redact.LooksSecret(k) != want {
			t.Errorf("LooksSecret(%q) = %v", k, !want)
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add("p\x00w", "x p\x00w y")
	f.Add("ab", `"a\x62"`)
	f.Fuzz(func(t *testing.T, secret, msg string) {
		if secret == "" || redact.IsSwitch(secret) {
			return // switches are hidden as KEY=value only
		}
		r := redact.New(redact.Secret{"PASSWORD", secret})
		got := r.String(msg + secret + fmt.Sprintf("%q", secret))
		if got == redact.Withheld {
			return
		}
		for piece := range strings.SplitSeq(got, redact.Marker) {
			if strings.Contains(piece, secret) {
				t.Fatalf("secret %q shows in %q", secret, got)
			}
		}
	})
}

// benchSecrets are the secrets of a deployment of 20 services with 5 env
// values each, one in five secret by its key.
func benchSecrets() []redact.Secret {
	var ss []redact.Secret
	for i := range 100 {
		ss = append(ss, redact.Secret{Key: fmt.Sprintf("VAR_%d", i), Value: fmt.Sprintf("value-number-%d", i)})
		if i%5 == 0 {
			ss = append(ss, redact.Secret{Key: fmt.Sprintf("PASSWORD_%d", i), Value: fmt.Sprintf("pw%d", i)})
		}
	}
	return ss
}

const benchMsg = "stack db: service postgres: container stackwave-prod-db-postgres-1 is ready (3 of 3 instances healthy)"

// BenchmarkString measures an event message against the secrets of
// benchSecrets.
func BenchmarkString(b *testing.B) {
	r := redact.New(benchSecrets()...)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.String(benchMsg)
	}
}

// BenchmarkStringRawOnly is the former literal matching of raw values
// from six bytes on, for comparison.
func BenchmarkStringRawOnly(b *testing.B) {
	var pairs []string
	for _, s := range benchSecrets() {
		if len(s.Value) >= 6 {
			pairs = append(pairs, s.Value, redact.Marker)
		}
	}
	r := strings.NewReplacer(pairs...)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Replace(benchMsg)
	}
}

func BenchmarkNew(b *testing.B) {
	var ss []redact.Secret
	for i := range 100 {
		ss = append(ss, redact.Secret{Key: fmt.Sprintf("VAR_%d", i), Value: fmt.Sprintf("value-number-%d", i)})
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = redact.New(ss...)
	}
}

func TestSwitchesUnderSecretKeysKeepMessagesReadable(t *testing.T) {
	r := redact.New(redact.Secret{Key: "MYSQL_ALLOW_EMPTY_PASSWORD", Value: "1"}, redact.Secret{Key: "DB_PIN", Value: "7"})
	got := r.String("version v1 of 1 services; MYSQL_ALLOW_EMPTY_PASSWORD=1; pin 7")
	want := "version v1 of 1 services; MYSQL_ALLOW_EMPTY_PASSWORD=" + redact.Marker + "; pin " + redact.Marker
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestNamesKept: values of keys that do not look secret and that equal
// a name the product publishes stay in messages, and names holding such
// values stay whole; everything else is hidden as before.
func TestNamesKept(t *testing.T) {
	names := []string{"mysql-cluster", "mysql-cluster-eu", "shop", "registry.local/mysql:8.0", "mysql-1.mysql-cluster"}
	r := redact.NewKeeping(names,
		redact.Secret{"DB_HOST", "mysql-cluster"},
		redact.Secret{"PEER", "mysql-1.mysql-cluster"},
		redact.Secret{"IMAGE", "registry.local/mysql:8.0"},
		redact.Secret{"REGION", "cluster-eu"},
		redact.Secret{"GREETING", "hello-world-value"},
	)
	for _, tc := range []struct{ in, want string }{
		{"stack mysql-cluster ready", "stack mysql-cluster ready"},
		{"mysql-cluster not ready", "mysql-cluster not ready"},
		{`service "mysql-1.mysql-cluster" refused`, `service "mysql-1.mysql-cluster" refused`},
		{"pull registry.local/mysql:8.0: no registry", "pull registry.local/mysql:8.0: no registry"},
		{"stack mysql-cluster-eu ready", "stack mysql-cluster-eu ready"},
		{`stack "mysql-cluster-eu" at 100%`, `stack "mysql-cluster-eu" at 100%`},
		{"region cluster-eu", "region " + redact.Marker},
		{"env DB_HOST=mysql-cluster", "env DB_HOST=" + redact.Marker},
		{`env "PEER=mysql-1.mysql-cluster"`, `env "PEER=` + redact.Marker + `"`},
		{"say hello-world-value", "say " + redact.Marker},
		{`say "hello\x2dworld-value"`, redact.Withheld},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A name stays in every form a message prints it in, and the text is
	// not withheld for it.
	for _, n := range names {
		b, _ := json.Marshal(map[string]string{"n": n})
		for _, msg := range []string{"stack " + n, fmt.Sprintf("stack %q", n), fmt.Sprintf("%+q", n), string(b),
			"url: http://h/" + url.PathEscape(n) + "?s=" + url.QueryEscape(n), `at 100% "` + n + `"`} {
			if got := r.String(msg); got != msg {
				t.Errorf("String(%q) = %q", msg, got)
			}
		}
	}
	// Without the names, the same values hide the names.
	if got := redact.New(redact.Secret{"DB_HOST", "mysql-cluster"}).String("stack mysql-cluster ready"); got != "stack "+redact.Marker+" ready" {
		t.Errorf("New hid %q", got)
	}
}

// TestNamesNeverKeepSecrets: a value whose key looks secret is hidden in
// every form although it equals a name or is held in one, and a kept
// name never lets the rest of a secret show.
func TestNamesNeverKeepSecrets(t *testing.T) {
	names := []string{"mysql-cluster", "shop-stag", "shop-production-eu", "api-gateway"}
	ss := []redact.Secret{
		{"DB_PASSWORD", "mysql-cluster"},   // equal to a name
		{"API_TOKEN", "stag"},              // held in a name
		{"TLS_KEY", "line-one\ngateway\n"}, // a line held in a name
		{"ENV_NAME", "production"},         // ordinary, held in a kept name
		{"ADMIN_PASSWORD", "eu-s3cret-pw"}, // overlaps the kept name's end
		{"DB_HOST", "api-gateway"},         // ordinary, equal to a name
	}
	r := redact.NewKeeping(names, ss...)
	for _, tc := range []struct{ in, want string }{
		{"stack mysql-cluster ready", "stack " + redact.Marker + " ready"},
		{"deployment shop-stag", "deployment shop-" + redact.Marker},
		{"deployment shop-production-eu ready", "deployment shop-production-eu ready"},
		{"at shop-production-eu-s3cret-pw", "at shop-" + redact.Marker + "-" + redact.Marker},
		{"production", redact.Marker},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, s := range ss {
		if !redact.LooksSecret(s.Key) {
			continue
		}
		for _, msg := range leaks(s.Value) {
			got := r.String(msg)
			if got == redact.Withheld {
				continue
			}
			for _, f := range redact.Forms(s.Value) {
				if strings.Contains(got, f) && !strings.Contains(redact.Marker, f) {
					t.Errorf("%s: %q\nredacted to %q\nstill holds %q", s.Key, msg, got, f)
				}
			}
		}
	}
}

// FuzzKeeping: keeping names never shows a secret that New hides.
func FuzzKeeping(f *testing.F) {
	f.Add("eu-s3cret", "production", "shop-production-eu", "at shop-production-eu-s3cret")
	f.Add("prod", "cluster", "shop-prod-cluster", `"shop-prod-cluster" \x70rod`)
	f.Add("mysql", "mysql-cluster", "mysql-cluster", "stack mysql-cluster")
	f.Fuzz(func(t *testing.T, secret, value, name, msg string) {
		if secret == "" {
			return
		}
		ss := []redact.Secret{{"PASSWORD", secret}, {"HOST", value}}
		want := redact.New(ss...).String(msg)
		got := redact.NewKeeping([]string{name}, ss...).String(msg)
		if got == redact.Withheld || strings.Contains(strings.ReplaceAll(want, redact.Marker, "\x00"), secret) {
			return
		}
		for piece := range strings.SplitSeq(got, redact.Marker) {
			if strings.Contains(piece, secret) {
				t.Fatalf("secret %q shows in %q (New: %q)", secret, got, want)
			}
		}
	})
}

// benchNames are the names a deployment of 20 services publishes, one
// of them repeated by an env value.
func benchNames() []string {
	names := []string{"shop", "shop-product", "v1.2.3", "value-number-7"}
	for i := range 20 {
		names = append(names, fmt.Sprintf("stack-%d", i/4), fmt.Sprintf("service-%d", i), fmt.Sprintf("service-%d.stack-%d", i, i/4),
			fmt.Sprintf("registry.local/team/image-%d:1.%d", i, i), "1U1G", "/var/lib/data")
	}
	return names
}

// BenchmarkNewKeeping is BenchmarkNew with the names of benchNames and
// the secrets of benchSecrets, as a deployment's redactor is made.
func BenchmarkNewKeeping(b *testing.B) {
	names, ss := benchNames(), benchSecrets()
	b.ReportAllocs()
	for b.Loop() {
		_ = redact.NewKeeping(names, ss...)
	}
}

// BenchmarkStringKeeping is BenchmarkString with names kept.
func BenchmarkStringKeeping(b *testing.B) {
	r := redact.NewKeeping(benchNames(), benchSecrets()...)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.String(benchMsg)
	}
}

// benchMsgHidden is an event message that holds four values of
// benchSecrets, two of them touching.
const benchMsgHidden = `stack db: service postgres: engine refused env "VAR_3=value-number-3" (PASSWORD_20=pw20): value-number-42pw40 in use`

// BenchmarkStringHidden measures a message that holds values to hide.
func BenchmarkStringHidden(b *testing.B) {
	r := redact.New(benchSecrets()...)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.String(benchMsgHidden)
	}
}

// BenchmarkNewKeyFile is BenchmarkNew with a rendered private key of
// 1.7 KB among the secrets, as a deployment with TLS has.
func BenchmarkNewKeyFile(b *testing.B) {
	key := make([]byte, 1250)
	for i := range key {
		key[i] = byte(i * 7919 >> 3)
	}
	pem := "-----BEGIN PRIVATE KEY-----\n" + base64.StdEncoding.EncodeToString(key) + "\n-----END PRIVATE KEY-----\n"
	ss := append(benchSecrets(), redact.Secret{Key: "/etc/tls/key.pem", Value: pem})
	b.ReportAllocs()
	for b.Loop() {
		_ = redact.New(ss...)
	}
}

// BenchmarkNewConfigFile makes a redactor of benchSecrets and a rendered
// config file of 100 lines (6 KB, hidden whole and line by line) and
// redacts one message with it, since a strings.Replacer builds its
// tables on first use.
func BenchmarkNewConfigFile(b *testing.B) {
	var sb strings.Builder
	for i := range 100 {
		fmt.Fprintf(&sb, "setting_number_%d = \"some value for setting %d\" # comment\n", i, i*37)
	}
	ss := append(benchSecrets(), redact.Secret{Key: "/etc/app/app.conf", Value: sb.String()})
	b.ReportAllocs()
	for b.Loop() {
		_ = redact.New(ss...).String(benchMsg)
	}
}
