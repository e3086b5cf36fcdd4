package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the server-mode behaviour, read from TESTAPP_* variables.
type config struct {
	Service        string
	TCPPorts       []int
	HTTPPorts      []int
	ReadyAfter     time.Duration
	Unhealthy      bool // TESTAPP_UNHEALTHY_AFTER is set
	UnhealthyAfter time.Duration
	Exit           bool // TESTAPP_EXIT_AFTER is set
	ExitAfter      time.Duration
	ExitCode       int
	LogLines       int
	Stderr         string
	PrintFiles     []string
	RequireFiles   []string
	CrashOn        []syscall.Signal
	CrashCode      int
	IgnoreTerm     bool
	StopDelay      time.Duration
	AllocMB        int
}

// defaultCrashCode is what a shell reports for a process killed by SIGSEGV.
const defaultCrashCode = 139

// parseConfig reads the server configuration through getenv. It returns
// every problem it finds at once, so one run shows all mistakes.
func parseConfig(getenv func(string) string) (config, error) {
	c := config{
		Service:   getenv("TESTAPP_SERVICE"),
		Stderr:    getenv("TESTAPP_STDERR"),
		CrashCode: defaultCrashCode,
	}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error

	c.TCPPorts, err = parsePorts("TESTAPP_TCP", getenv("TESTAPP_TCP"))
	check(err)
	c.HTTPPorts, err = parsePorts("TESTAPP_HTTP", getenv("TESTAPP_HTTP"))
	check(err)
	seen := map[int]bool{}
	for _, p := range append(append([]int{}, c.TCPPorts...), c.HTTPPorts...) {
		if seen[p] {
			check(fmt.Errorf("port %d is listed twice in TESTAPP_TCP/TESTAPP_HTTP", p))
		}
		seen[p] = true
	}

	c.ReadyAfter, err = parseDuration("TESTAPP_READY_AFTER", getenv("TESTAPP_READY_AFTER"))
	check(err)
	c.UnhealthyAfter, err = parseDuration("TESTAPP_UNHEALTHY_AFTER", getenv("TESTAPP_UNHEALTHY_AFTER"))
	check(err)
	c.Unhealthy = strings.TrimSpace(getenv("TESTAPP_UNHEALTHY_AFTER")) != ""
	c.ExitAfter, err = parseDuration("TESTAPP_EXIT_AFTER", getenv("TESTAPP_EXIT_AFTER"))
	check(err)
	c.Exit = strings.TrimSpace(getenv("TESTAPP_EXIT_AFTER")) != ""
	c.StopDelay, err = parseDuration("TESTAPP_STOP_DELAY", getenv("TESTAPP_STOP_DELAY"))
	check(err)

	c.ExitCode, err = parseInt("TESTAPP_EXIT_CODE", getenv("TESTAPP_EXIT_CODE"), 0, 0, 255)
	check(err)
	if v := getenv("TESTAPP_EXIT_CODE"); v != "" && !c.Exit && err == nil {
		check(errors.New("TESTAPP_EXIT_CODE is set but TESTAPP_EXIT_AFTER is not"))
	}
	c.CrashCode, err = parseInt("TESTAPP_CRASH_CODE", getenv("TESTAPP_CRASH_CODE"), defaultCrashCode, 0, 255)
	check(err)
	c.LogLines, err = parseInt("TESTAPP_LOG_LINES", getenv("TESTAPP_LOG_LINES"), 0, 0, 1_000_000)
	check(err)
	c.AllocMB, err = parseInt("TESTAPP_ALLOC_MB", getenv("TESTAPP_ALLOC_MB"), 0, 0, 1<<20)
	check(err)

	c.IgnoreTerm, err = parseBool("TESTAPP_IGNORE_TERM", getenv("TESTAPP_IGNORE_TERM"))
	check(err)

	c.PrintFiles = splitList(getenv("TESTAPP_PRINT_FILE"))
	if req := strings.TrimSpace(getenv("TESTAPP_REQUIRE_FILE")); req != "" {
		if b, berr := strconv.ParseBool(req); berr == nil {
			if b {
				c.RequireFiles = c.PrintFiles
				if len(c.PrintFiles) == 0 {
					check(errors.New("TESTAPP_REQUIRE_FILE is true but TESTAPP_PRINT_FILE names no file"))
				}
			}
		} else {
			for _, p := range splitList(req) {
				if !strings.HasPrefix(p, "/") {
					check(fmt.Errorf("TESTAPP_REQUIRE_FILE: %q is neither a boolean nor an absolute path", p))
					continue
				}
				c.RequireFiles = append(c.RequireFiles, p)
			}
		}
	}

	for _, name := range splitList(getenv("TESTAPP_CRASH_ON")) {
		sig, serr := parseSignal(name)
		if serr != nil {
			check(fmt.Errorf("TESTAPP_CRASH_ON: %w", serr))
			continue
		}
		c.CrashOn = append(c.CrashOn, sig)
	}
	return c, errors.Join(errs...)
}

// splitList splits a comma-separated list, dropping empty items and spaces.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parsePorts(name, s string) ([]int, error) {
	var ports []int
	for _, f := range splitList(s) {
		p, err := strconv.Atoi(f)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%s: %q is not a port number (1-65535)", name, f)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// parseDuration accepts Go duration syntax ("1.5s", "200ms") or a bare
// number of seconds ("2", "0.5"). Empty means zero.
func parseDuration(name, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, fmt.Errorf("%s: %q is negative", name, s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration (like 2s or 150ms)", name, s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s: %q is negative", name, s)
	}
	return d, nil
}

func parseInt(name, s string, def, lo, hi int) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return def, fmt.Errorf("%s: %q is not an integer in %d..%d", name, s, lo, hi)
	}
	return n, nil
}

func parseBool(name, s string) (bool, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not a boolean (1, 0, true, false)", name, s)
	}
	return b, nil
}

var signalsByName = map[string]syscall.Signal{
	"HUP":   syscall.SIGHUP,
	"INT":   syscall.SIGINT,
	"QUIT":  syscall.SIGQUIT,
	"USR1":  syscall.SIGUSR1,
	"USR2":  syscall.SIGUSR2,
	"TERM":  syscall.SIGTERM,
	"ALRM":  syscall.SIGALRM,
	"WINCH": syscall.SIGWINCH,
}

// parseSignal accepts "SIGUSR1", "USR1", "usr1" or a number such as "10".
func parseSignal(s string) (syscall.Signal, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(u); err == nil {
		for _, sig := range signalsByName {
			if int(sig) == n {
				return sig, nil
			}
		}
		return 0, fmt.Errorf("signal %d cannot be caught here", n)
	}
	if sig, ok := signalsByName[strings.TrimPrefix(u, "SIG")]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown or uncatchable signal %q", s)
}

// applyOverrides sets KEY=VALUE arguments as environment variables, so a
// container command can configure the server without an environment.
func applyOverrides(args []string) error {
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return fmt.Errorf("argument %q is not KEY=VALUE", a)
		}
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}
