package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// defaultProbeTimeout bounds one probe, so a health check never hangs.
const defaultProbeTimeout = time.Second

// codeRange is an inclusive range of accepted HTTP status codes.
type codeRange struct{ lo, hi int }

// defaultCodes is what counts as healthy when a probe names no codes:
// any 2xx or 3xx answer, the same rule as a Kubernetes HTTP probe.
var defaultCodes = []codeRange{{200, 399}}

// probeSpec is a parsed probe command line.
type probeSpec struct {
	Kind    string // "tcp" or "http"
	Target  string // host:port for tcp, URL for http
	Codes   []codeRange
	Timeout time.Duration
}

// parseProbeArgs parses `[-timeout D] tcp HOST:PORT` or
// `[-timeout D] http URL [CODE|LO-HI|Nxx ...]`.
func parseProbeArgs(args []string) (probeSpec, error) {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", defaultProbeTimeout, "")
	if err := fs.Parse(args); err != nil {
		return probeSpec{}, err
	}
	if *timeout <= 0 {
		return probeSpec{}, errors.New("-timeout must be positive")
	}
	rest := fs.Args()
	if len(rest) < 2 {
		return probeSpec{}, errors.New("want: probe [-timeout D] tcp HOST:PORT | probe [-timeout D] http URL [CODES...]")
	}
	s := probeSpec{Kind: rest[0], Target: rest[1], Timeout: *timeout}
	switch s.Kind {
	case "tcp":
		if len(rest) > 2 {
			return probeSpec{}, fmt.Errorf("probe tcp takes one address, got %q", rest[1:])
		}
		if _, _, err := net.SplitHostPort(s.Target); err != nil {
			return probeSpec{}, fmt.Errorf("probe tcp: %q is not HOST:PORT", s.Target)
		}
	case "http":
		if !strings.HasPrefix(s.Target, "http://") && !strings.HasPrefix(s.Target, "https://") {
			return probeSpec{}, fmt.Errorf("probe http: %q is not an http:// or https:// URL", s.Target)
		}
		for _, c := range rest[2:] {
			r, err := parseCodeRange(c)
			if err != nil {
				return probeSpec{}, err
			}
			s.Codes = append(s.Codes, r)
		}
		if len(s.Codes) == 0 {
			s.Codes = defaultCodes
		}
	default:
		return probeSpec{}, fmt.Errorf("unknown probe kind %q (want tcp or http)", s.Kind)
	}
	return s, nil
}

// parseCodeRange accepts "204", "200-299" or "2xx".
func parseCodeRange(s string) (codeRange, error) {
	bad := fmt.Errorf("probe http: %q is not a status code, range (200-299) or class (2xx)", s)
	if len(s) == 3 && strings.HasSuffix(strings.ToLower(s), "xx") {
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
		h, err = strconv.Atoi(hi)
		if err != nil || h < l || h > 599 {
			return codeRange{}, bad
		}
	}
	return codeRange{l, h}, nil
}

func codeAccepted(code int, ranges []codeRange) bool {
	for _, r := range ranges {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

// probe runs one check and returns a one-line description of the outcome,
// with a nil error when the target is healthy.
func probe(ctx context.Context, s probeSpec) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	switch s.Kind {
	case "tcp":
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", s.Target)
		if err != nil {
			return "", err
		}
		conn.Close()
		return "tcp " + s.Target + " accepts connections", nil
	case "http":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Target, nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("User-Agent", "testapp-probe")
		c := &http.Client{
			Transport: &http.Transport{
				Proxy:             nil, // never go through a proxy from the environment
				DisableKeepAlives: true,
				TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // like a kubelet probe
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		msg := fmt.Sprintf("http %s answered %d %q", s.Target, resp.StatusCode, strings.TrimSpace(string(body)))
		if !codeAccepted(resp.StatusCode, s.Codes) {
			return "", errors.New(msg)
		}
		return msg, nil
	}
	return "", fmt.Errorf("unknown probe kind %q", s.Kind)
}

// runProbe is the probe subcommand: exit 0 when healthy, 1 otherwise
// (usage errors included, so a mistyped probe never passes).
func runProbe(args []string, stdout io.Writer) int {
	s, err := parseProbeArgs(args)
	if err != nil {
		fmt.Fprintf(stdout, "probe: %v\n", err)
		return 1
	}
	msg, err := probe(context.Background(), s)
	if err != nil {
		fmt.Fprintf(stdout, "probe failed: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "probe ok: %s\n", msg)
	return 0
}
