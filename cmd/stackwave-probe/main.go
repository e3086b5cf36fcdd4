// Command stackwave-probe checks a TCP or HTTP port and exits 0 when it
// answers, 1 otherwise. The Docker runtime copies it into containers whose
// services have tcp or http readiness probes and runs it as their health
// check, so those probes work in images without a shell or any tool
// (FROM scratch) and `docker ps` shows the health.
//
//	stackwave-probe [-timeout 1s] tcp HOST:PORT
//	stackwave-probe [-timeout 1s] http URL [CODE|LO-HI|Nxx ...]
//
// The http check sends a plain HTTP/1.0 GET (no TLS, no proxy, no
// redirects followed) and reads the status line; with no codes, 200 to 399
// count as ready, as for a Kubernetes probe. Only the standard library's
// net package is linked in, so the binary stays small: it is copied into
// every container that needs it. Usage errors exit 1 too, so a mistyped probe never
// reports healthy.
//
// Build it static for the engine's platform, e.g.
//
//	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags=-s -o stackwave-probe ./cmd/stackwave-probe
//
// and point runtime/docker's Options.ProbeBinary at the result.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

func run(args []string, stdout io.Writer) int {
	c, err := parse(args)
	if err != nil {
		fmt.Fprintf(stdout, "stackwave-probe: %v\n", err)
		return 1
	}
	msg, err := c.run(context.Background())
	if err != nil {
		fmt.Fprintf(stdout, "not ready: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ready: %s\n", msg)
	return 0
}

// codeRange is an inclusive range of accepted HTTP status codes.
type codeRange struct{ lo, hi int }

type check struct {
	kind    string // "tcp" or "http"
	target  string // HOST:PORT or URL
	codes   []codeRange
	timeout time.Duration
}

func parse(args []string) (*check, error) {
	fs := flag.NewFlagSet("stackwave-probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", time.Second, "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	rest := fs.Args()
	if *timeout <= 0 || len(rest) < 2 {
		return nil, errors.New("usage: stackwave-probe [-timeout D] tcp HOST:PORT | http URL [CODES...]")
	}
	c := &check{kind: rest[0], target: rest[1], timeout: *timeout}
	switch c.kind {
	case "tcp":
		if _, _, err := net.SplitHostPort(c.target); err != nil || len(rest) > 2 {
			return nil, fmt.Errorf("tcp: want one HOST:PORT, got %q", rest[1:])
		}
	case "http":
		if !strings.HasPrefix(c.target, "http://") {
			return nil, fmt.Errorf("http: %q is not an http:// URL", c.target)
		}
		for _, s := range rest[2:] {
			r, err := parseCodes(s)
			if err != nil {
				return nil, err
			}
			c.codes = append(c.codes, r)
		}
		if len(c.codes) == 0 {
			c.codes = []codeRange{{200, 399}}
		}
	default:
		return nil, fmt.Errorf("unknown check %q (want tcp or http)", c.kind)
	}
	return c, nil
}

// parseCodes accepts "204", "200-299" or "2xx".
func parseCodes(s string) (codeRange, error) {
	bad := fmt.Errorf("http: %q is not a status code, range (200-299) or class (2xx)", s)
	if len(s) == 3 && strings.EqualFold(s[1:], "xx") {
		d := int(s[0] - '0')
		if d < 1 || d > 5 {
			return codeRange{}, bad
		}
		return codeRange{d * 100, d*100 + 99}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	l, err := strconv.Atoi(lo)
	if err != nil || l < 100 || l > 599 {
		return codeRange{}, bad
	}
	h := l
	if isRange {
		if h, err = strconv.Atoi(hi); err != nil || h < l || h > 599 {
			return codeRange{}, bad
		}
	}
	return codeRange{l, h}, nil
}

func (c *check) run(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.kind == "tcp" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.target)
		if err != nil {
			return "", err
		}
		conn.Close()
		return c.target + " accepts connections", nil
	}
	return httpGet(ctx, c.target, c.codes)
}

// httpGet sends a plain HTTP/1.0 GET and checks the status line. It speaks
// just enough HTTP for a health check, which keeps the binary small enough
// to copy into every container.
func httpGet(ctx context.Context, rawURL string, codes []codeRange) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return "", fmt.Errorf("%q is not an http://HOST[:PORT]/PATH URL", rawURL)
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
	path := u.RequestURI()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: stackwave-probe\r\nConnection: close\r\n\r\n", path, u.Host); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: reading the status line: %w", rawURL, err)
	}
	// "HTTP/1.1 200 OK"
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return "", fmt.Errorf("%s: not an HTTP answer: %q", rawURL, strings.TrimSpace(line))
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return "", fmt.Errorf("%s: bad status line %q", rawURL, strings.TrimSpace(line))
	}
	msg := fmt.Sprintf("%s answered %d", rawURL, code)
	for _, r := range codes {
		if code >= r.lo && code <= r.hi {
			return msg, nil
		}
	}
	return "", errors.New(msg)
}
