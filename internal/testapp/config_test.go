package main

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig(envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Exit || c.Unhealthy || c.IgnoreTerm || len(c.TCPPorts)+len(c.HTTPPorts) != 0 {
		t.Fatalf("unexpected non-default config: %+v", c)
	}
	if c.CrashCode != 139 {
		t.Fatalf("CrashCode = %d, want 139", c.CrashCode)
	}
}

func TestParseConfigFull(t *testing.T) {
	c, err := parseConfig(envFunc(map[string]string{
		"TESTAPP_SERVICE":         "web",
		"TESTAPP_TCP":             "9000, 9001",
		"TESTAPP_HTTP":            "8080",
		"TESTAPP_READY_AFTER":     "2s",
		"TESTAPP_UNHEALTHY_AFTER": "1.5",
		"TESTAPP_EXIT_AFTER":      "100ms",
		"TESTAPP_EXIT_CODE":       "3",
		"TESTAPP_LOG_LINES":       "30",
		"TESTAPP_PRINT_FILE":      "/etc/a.conf,/etc/b.conf",
		"TESTAPP_REQUIRE_FILE":    "1",
		"TESTAPP_CRASH_ON":        "SIGUSR1,usr2,1",
		"TESTAPP_CRASH_CODE":      "134",
		"TESTAPP_IGNORE_TERM":     "true",
		"TESTAPP_STOP_DELAY":      "300ms",
		"TESTAPP_ALLOC_MB":        "64",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		Service:        "web",
		TCPPorts:       []int{9000, 9001},
		HTTPPorts:      []int{8080},
		ReadyAfter:     2 * time.Second,
		Unhealthy:      true,
		UnhealthyAfter: 1500 * time.Millisecond,
		Exit:           true,
		ExitAfter:      100 * time.Millisecond,
		ExitCode:       3,
		LogLines:       30,
		PrintFiles:     []string{"/etc/a.conf", "/etc/b.conf"},
		RequireFiles:   []string{"/etc/a.conf", "/etc/b.conf"},
		CrashOn:        []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP},
		CrashCode:      134,
		IgnoreTerm:     true,
		StopDelay:      300 * time.Millisecond,
		AllocMB:        64,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestParseConfigExitAtOnce(t *testing.T) {
	c, err := parseConfig(envFunc(map[string]string{"TESTAPP_EXIT_AFTER": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Exit || c.ExitAfter != 0 {
		t.Fatalf("EXIT_AFTER=0 must mean exit at once, got %+v", c)
	}
}

func TestParseConfigRequirePaths(t *testing.T) {
	c, err := parseConfig(envFunc(map[string]string{
		"TESTAPP_PRINT_FILE":   "/etc/a.conf",
		"TESTAPP_REQUIRE_FILE": "/run/marker,/etc/b",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.RequireFiles, []string{"/run/marker", "/etc/b"}) {
		t.Fatalf("RequireFiles = %q", c.RequireFiles)
	}
	c, err = parseConfig(envFunc(map[string]string{"TESTAPP_PRINT_FILE": "/a", "TESTAPP_REQUIRE_FILE": "false"}))
	if err != nil || len(c.RequireFiles) != 0 {
		t.Fatalf("REQUIRE_FILE=false: %v %q", err, c.RequireFiles)
	}
}

func TestParseConfigErrorsAllReported(t *testing.T) {
	_, err := parseConfig(envFunc(map[string]string{
		"TESTAPP_TCP":          "80,x",
		"TESTAPP_HTTP":         "70000",
		"TESTAPP_READY_AFTER":  "soon",
		"TESTAPP_EXIT_CODE":    "3",
		"TESTAPP_ALLOC_MB":     "-1",
		"TESTAPP_IGNORE_TERM":  "maybe",
		"TESTAPP_CRASH_ON":     "SIGKILL",
		"TESTAPP_REQUIRE_FILE": "relative/path",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, frag := range []string{
		`TESTAPP_TCP: "x"`, `TESTAPP_HTTP: "70000"`, `TESTAPP_READY_AFTER: "soon"`,
		"TESTAPP_EXIT_CODE is set but TESTAPP_EXIT_AFTER is not", `TESTAPP_ALLOC_MB: "-1"`,
		`TESTAPP_IGNORE_TERM: "maybe"`, `"SIGKILL"`, `"relative/path"`,
	} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error lacks %q:\n%v", frag, err)
		}
	}
}

func TestParseConfigDuplicatePort(t *testing.T) {
	_, err := parseConfig(envFunc(map[string]string{"TESTAPP_TCP": "8080", "TESTAPP_HTTP": "8080"}))
	if err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"":      0,
		"2":     2 * time.Second,
		"0.25":  250 * time.Millisecond,
		"150ms": 150 * time.Millisecond,
		"1m30s": 90 * time.Second,
	} {
		got, err := parseDuration("X", in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1s", "-2", "abc"} {
		if _, err := parseDuration("X", in); err == nil {
			t.Errorf("parseDuration(%q): want error", in)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"SIGUSR1": syscall.SIGUSR1, "usr2": syscall.SIGUSR2, "15": syscall.SIGTERM, " hup ": syscall.SIGHUP} {
		got, err := parseSignal(in)
		if err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"SIGKILL", "9", "SIGFOO", ""} {
		if _, err := parseSignal(in); err == nil {
			t.Errorf("parseSignal(%q): want error", in)
		}
	}
}

func TestParseExit(t *testing.T) {
	code, msg, err := parseExit([]string{"1", "init", "failed"})
	if err != nil || code != 1 || msg != "init failed" {
		t.Fatalf("got %d %q %v", code, msg, err)
	}
	if code, msg, err := parseExit(nil); err != nil || code != 0 || msg != "" {
		t.Fatalf("empty: %d %q %v", code, msg, err)
	}
	for _, bad := range []string{"x", "256", "-1"} {
		if _, _, err := parseExit([]string{bad}); err == nil {
			t.Errorf("parseExit(%q): want error", bad)
		}
	}
}
