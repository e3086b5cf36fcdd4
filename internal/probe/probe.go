// Package probe checks that a TCP port accepts connections or that an HTTP
// URL answers with an accepted status. It is the health check shared by
// cmd/stackwave-probe (copied into containers by the Docker runtime) and the
// test program's probe subcommand, so it links only the standard library's
// net package: no net/http, no TLS, and a binary small enough to copy into
// every container.
//
// Command lines:
//
//	[-timeout 1s] tcp HOST:PORT
//	[-timeout 1s] http URL [CODE|LO-HI|Nxx ...]
//
// The http check sends a plain HTTP/1.0 GET (no proxy, no redirects
// followed) and judges the status line; with no codes, 200 to 399 count as
// ready, as for a Kubernetes probe.
package probe

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one check, so a health check never hangs.
const DefaultTimeout = time.Second

// CodeRange is an inclusive range of accepted HTTP status codes.
type CodeRange struct{ Lo, Hi int }

// DefaultCodes count as healthy when a check names none: any 2xx or 3xx.
var DefaultCodes = []CodeRange{{200, 399}}

// Check is a parsed check.
type Check struct {
	Kind    string // "tcp" or "http"
	Target  string // HOST:PORT for tcp, a URL for http
	Codes   []CodeRange
	Timeout time.Duration
}

// Usage is the command line a check is parsed from.
const Usage = "[-timeout D] tcp HOST:PORT | [-timeout D] http URL [CODE|LO-HI|Nxx ...]"

// Parse parses a check's command line.
func Parse(args []string) (*Check, error) {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", DefaultTimeout, "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *timeout <= 0 {
		return nil, errors.New("-timeout must be positive")
	}
	rest := fs.Args()
	if len(rest) < 2 {
		return nil, errors.New("want " + Usage)
	}
	c := &Check{Kind: rest[0], Target: rest[1], Timeout: *timeout}
	switch c.Kind {
	case "tcp":
		if len(rest) > 2 {
			return nil, fmt.Errorf("tcp takes one HOST:PORT, got %q", rest[1:])
		}
		if _, _, err := net.SplitHostPort(c.Target); err != nil {
			return nil, fmt.Errorf("tcp: %q is not HOST:PORT", c.Target)
		}
	case "http":
		if u, err := url.Parse(c.Target); err != nil || u.Scheme != "http" || u.Host == "" {
			return nil, fmt.Errorf("http: %q is not an http://HOST[:PORT]/PATH URL", c.Target)
		}
		for _, s := range rest[2:] {
			r, err := ParseCodes(s)
			if err != nil {
				return nil, err
			}
			c.Codes = append(c.Codes, r)
		}
		if len(c.Codes) == 0 {
			c.Codes = DefaultCodes
		}
	default:
		return nil, fmt.Errorf("unknown check %q (want tcp or http)", c.Kind)
	}
	return c, nil
}

// ParseCodes accepts "204", "200-299" or "2xx".
func ParseCodes(s string) (CodeRange, error) {
	bad := fmt.Errorf("http: %q is not a status code, range (200-299) or class (2xx)", s)
	if len(s) == 3 && strings.EqualFold(s[1:], "xx") {
		d := int(s[0] - '0')
		if d < 1 || d > 5 {
			return CodeRange{}, bad
		}
		return CodeRange{d * 100, d*100 + 99}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	l, err := strconv.Atoi(lo)
	if err != nil || l < 100 || l > 599 {
		return CodeRange{}, bad
	}
	h := l
	if isRange {
		if h, err = strconv.Atoi(hi); err != nil || h < l || h > 599 {
			return CodeRange{}, bad
		}
	}
	return CodeRange{l, h}, nil
}

// Accepts reports whether code is in one of the check's ranges.
func (c *Check) Accepts(code int) bool {
	for _, r := range c.Codes {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// Run performs the check once. It returns a one-line description and a
// nil error when the target is healthy.
func (c *Check) Run(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if c.Kind == "tcp" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.Target)
		if err != nil {
			return "", err
		}
		conn.Close()
		return "tcp " + c.Target + " accepts connections", nil
	}
	return c.httpGet(ctx)
}

// httpGet sends a plain HTTP/1.0 GET and judges the status line, keeping
// the start of the body for the message.
func (c *Check) httpGet(ctx context.Context) (string, error) {
	u, err := url.Parse(c.Target)
	if err != nil {
		return "", err
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: stackwave-probe\r\nConnection: close\r\n\r\n", u.RequestURI(), u.Host); err != nil {
		return "", err
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("http %s: reading the status line: %w", c.Target, err)
	}
	f := strings.Fields(line) // "HTTP/1.1 200 OK"
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return "", fmt.Errorf("http %s: not an HTTP answer: %q", c.Target, strings.TrimSpace(line))
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return "", fmt.Errorf("http %s: bad status line %q", c.Target, strings.TrimSpace(line))
	}
	// Skip the headers; keep a little of the body for the message.
	for {
		h, err := br.ReadString('\n')
		if err != nil || strings.TrimSpace(h) == "" {
			break
		}
	}
	body, _ := io.ReadAll(io.LimitReader(br, 256))
	msg := fmt.Sprintf("http %s answered %d", c.Target, code)
	if b := strings.TrimSpace(string(body)); b != "" {
		msg += fmt.Sprintf(" %q", b)
	}
	if !c.Accepts(code) {
		return "", errors.New(msg)
	}
	return msg, nil
}

// Main runs the check a command line describes and prints its outcome. It
// returns 0 when the target is healthy and 1 otherwise, usage errors
// included, so a mistyped probe never passes.
func Main(name string, args []string, stdout io.Writer) int {
	c, err := Parse(args)
	if err != nil {
		fmt.Fprintf(stdout, "%s: %v\n", name, err)
		return 1
	}
	msg, err := c.Run(context.Background())
	if err != nil {
		fmt.Fprintf(stdout, "not ready: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ready: %s\n", msg)
	return 0
}
