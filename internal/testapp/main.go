// Command testapp is the program inside the image that stackwave's Docker
// tests and the quickstart demo run. It is built by internal/imagebuild into
// a FROM scratch image (no shell, no other files), with ENTRYPOINT
// ["/testapp"], so its behaviour is set by environment variables and by the
// container command (the arguments after the entrypoint).
//
// All log lines go to stdout and start with an RFC 3339 UTC timestamp with
// milliseconds and "testapp:" (or "testapp[SERVICE]:" when TESTAPP_SERVICE is
// set), e.g. "2025-01-02T15:04:05.000Z testapp[web]: ready".
//
// # Server mode
//
// With no arguments, or with "serve", testapp runs until stopped. Arguments
// of the form KEY=VALUE (after "serve", or as the whole command) are set as
// environment variables first, so "/testapp TESTAPP_HTTP=8080" works where
// no environment can be given. Variables (durations are Go syntax such as
// 150ms or 2s, or a bare number of seconds; lists are comma-separated):
//
//	TESTAPP_SERVICE=NAME      name reported by GET / and in the log tag.
//	TESTAPP_TCP=9000,9001     TCP ports that echo back whatever they receive.
//	TESTAPP_HTTP=8080         HTTP ports; endpoints below.
//	TESTAPP_READY_AFTER=2s    readiness delay (default 0). HTTP ports listen
//	                          from the start but /healthz answers 503 until
//	                          ready; TCP ports are not listened on at all
//	                          before ready (connections are refused). The line
//	                          "ready" is logged when the delay has passed.
//	TESTAPP_UNHEALTHY_AFTER=D after D (counted from start), /healthz answers
//	                          503 for good; ports stay open.
//	TESTAPP_EXIT_AFTER=1s     exit after the delay, logging a few lines first
//	                          ("exit timer fired ...", "shutting down with exit
//	                          code N", "exit N"); 0 exits at once.
//	TESTAPP_EXIT_CODE=3       code of that exit (default 0; needs EXIT_AFTER).
//	TESTAPP_LOG_LINES=N       log "log line i/N" for i=1..N at start, to test
//	                          log truncation ("last 20 lines").
//	TESTAPP_STDERR=TEXT       write TEXT as one line to stderr at start.
//	TESTAPP_PRINT_FILE=/a,/b  print each file to stdout at start, between
//	                          "---- begin PATH (N bytes)" and "---- end PATH"
//	                          log lines; a missing file is logged and skipped.
//	TESTAPP_REQUIRE_FILE=V    V=1/true: the TESTAPP_PRINT_FILE files must
//	                          exist; V=/x,/y: these paths must exist. A missing
//	                          one is logged and testapp exits with code 2.
//	TESTAPP_CRASH_ON=SIGUSR1  on this signal (also USR1, usr1 or 10; a list is
//	                          allowed) print a panic-style goroutine dump to
//	                          stderr and exit with TESTAPP_CRASH_CODE (default
//	                          139, what a shell shows for SIGSEGV). It is an
//	                          exit, not a real death by signal, because PID 1
//	                          in a container cannot be killed by its own
//	                          default-action signal.
//	TESTAPP_IGNORE_TERM=1     log and ignore SIGTERM and SIGINT, to test stop
//	                          grace periods (the runtime's SIGKILL still works).
//	                          By default SIGTERM/SIGINT close all ports and exit
//	                          0 at once.
//	TESTAPP_STOP_DELAY=D      graceful stop takes D before exiting 0.
//	TESTAPP_ALLOC_MB=N        allocate and touch N MiB at start and keep it,
//	                          so a lower memory limit gets the container
//	                          OOM-killed (exit 137, State.OOMKilled).
//
// HTTP endpoints, on every TESTAPP_HTTP port:
//
//	GET /              JSON {hostname, service, port, pid, ready, uptime,
//	                   uptime_seconds}.
//	GET /healthz       200 "ok" when ready, 503 before (and once unhealthy).
//	GET /env?k=NAME    the value of one environment variable; 404 if unset.
//	GET /file?path=/x  a file's content; 404 if missing (checks that config
//	                   files were placed).
//	GET /dns?name=H    JSON {name, addrs} resolving H from inside the
//	                   container; 404 with {name, error} when it fails.
//	GET /exit?code=N   answer, then exit with code N (restart tests).
//
// Other exit codes of server mode: 64 for bad TESTAPP_* values (all problems
// are logged), 71 when a port cannot be opened.
//
// # Subcommands
//
// Each prints its arguments, runs briefly and exits; they suit init scripts,
// exec probes and health checks in an image without a shell:
//
//	probe [-timeout 1s] tcp HOST:PORT
//	    exit 0 if a TCP connection succeeds within the timeout, else 1.
//	probe [-timeout 1s] http URL [CODE|LO-HI|Nxx ...]
//	    GET an http:// URL (HTTP/1.0, no redirects followed, no proxy); exit 0
//	    if the status is accepted (default 200-399), else 1. Usage errors
//	    also exit 1, so a mistyped probe never reports healthy.
//	exit [CODE [MESSAGE...]]
//	    print the arguments and MESSAGE, exit with CODE (default 0).
//	sleep DURATION [CODE [MESSAGE...]]
//	    sleep, then exit like exit; SIGTERM/SIGINT end it early with 143.
//	write PATH [TEXT...]
//	    write TEXT (joined by spaces, plus a newline) to PATH, creating parent
//	    directories (0755) and the file (0644); e.g. an init step leaving a
//	    marker in a shared volume.
//	cat PATH...
//	    print files; exit 1 if one cannot be read.
//	env
//	    print the environment, sorted.
//
// The image runs testapp as root (no USER): files copied into a container
// keep the owner and mode of their archive and Docker-created volumes are
// root-owned, so a non-root testapp could not read or write them. A test
// that needs another user sets the container's User (e.g. "65534:65534").
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch {
	case cmd == "" || cmd == "serve" || strings.Contains(cmd, "="):
		if cmd == "serve" {
			args = args[1:]
		}
		log := newLogger(stdout, os.Getenv("TESTAPP_SERVICE"))
		if err := applyOverrides(args); err != nil {
			log.Printf("bad arguments: %v", err)
			return exitBadConfig
		}
		cfg, err := parseConfig(os.Getenv)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				log.Printf("bad configuration: %s", line)
			}
			return exitBadConfig
		}
		return serve(cfg, stdout, stderr)
	case cmd == "probe":
		return runProbe(args[1:], stdout)
	case cmd == "exit" || cmd == "sleep" || cmd == "write" || cmd == "cat" || cmd == "env":
		log := newLogger(stdout, os.Getenv("TESTAPP_SERVICE"))
		log.Printf("%s: args=%q", cmd, args[1:])
		return runTool(log, cmd, args[1:], stdout)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprintln(stdout, "usage: testapp [serve] [KEY=VALUE...] | probe tcp|http ... | exit [CODE [MSG]] | sleep D [CODE [MSG]] | write PATH [TEXT] | cat PATH... | env")
		return 0
	default:
		fmt.Fprintf(stdout, "testapp: unknown subcommand %q (try help)\n", cmd)
		return exitBadConfig
	}
}

// runTool runs the short-lived subcommands.
func runTool(log *logger, cmd string, args []string, stdout io.Writer) int {
	switch cmd {
	case "exit":
		code, msg, err := parseExit(args)
		if err != nil {
			log.Printf("exit: %v", err)
			return exitBadConfig
		}
		if msg != "" {
			log.Printf("%s", msg)
		}
		log.Printf("exit %d", code)
		return code
	case "sleep":
		if len(args) == 0 {
			log.Printf("sleep: want a duration")
			return exitBadConfig
		}
		d, err := parseDuration("sleep", args[0])
		if err != nil {
			log.Printf("%v", err)
			return exitBadConfig
		}
		code, msg, err := parseExit(args[1:])
		if err != nil {
			log.Printf("sleep: %v", err)
			return exitBadConfig
		}
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		select {
		case sig := <-ch:
			log.Printf("received %s while sleeping: exit 143", signalName(sig))
			return 143
		case <-time.After(d):
		}
		if msg != "" {
			log.Printf("%s", msg)
		}
		log.Printf("exit %d", code)
		return code
	case "write":
		if len(args) == 0 {
			log.Printf("write: want a path")
			return exitBadConfig
		}
		p := args[0]
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Printf("write: %v", err)
			return 1
		}
		if err := os.WriteFile(p, []byte(strings.Join(args[1:], " ")+"\n"), 0o644); err != nil {
			log.Printf("write: %v", err)
			return 1
		}
		log.Printf("wrote %s", p)
		return 0
	case "cat":
		code := 0
		for _, p := range args {
			b, err := os.ReadFile(p)
			if err != nil {
				log.Printf("cat: %v", err)
				code = 1
				continue
			}
			stdout.Write(b)
		}
		return code
	case "env":
		env := os.Environ()
		slices.Sort(env)
		for _, kv := range env {
			fmt.Fprintln(stdout, kv)
		}
		return 0
	}
	return exitBadConfig
}

// parseExit parses "[CODE [MESSAGE...]]".
func parseExit(args []string) (code int, msg string, err error) {
	if len(args) == 0 {
		return 0, "", nil
	}
	code, err = strconv.Atoi(args[0])
	if err != nil || code < 0 || code > 255 {
		return 0, "", fmt.Errorf("%q is not an exit code (0-255)", args[0])
	}
	return code, strings.Join(args[1:], " "), nil
}
