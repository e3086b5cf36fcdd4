package docker

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/stackwave/stackwave/stack"
)

// probePeriod is the time between two attempts of a probe.
func probePeriod(p *stack.Probe) time.Duration {
	if p != nil && p.Period > 0 {
		return p.Period.Std()
	}
	return time.Second
}

// hostProbe checks a tcp or http probe from this host against the
// container's address every period until it succeeds once or ctx ends,
// sending each outcome to out.
func hostProbe(ctx context.Context, p *stack.Probe, ip netip.Addr, id string, out chan<- probeResult) {
	period := probePeriod(p)
	for {
		msg, err := checkHost(ctx, p, ip)
		if err != nil {
			msg = err.Error()
		}
		select {
		case out <- probeResult{id: id, ok: err == nil, msg: msg}:
		case <-ctx.Done():
			return
		}
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}

// checkHost runs one tcp or http check against ip.
func checkHost(ctx context.Context, p *stack.Probe, ip netip.Addr) (string, error) {
	if !ip.IsValid() {
		return "", errNoAddress
	}
	ctx, cancel := context.WithTimeout(ctx, min(max(probePeriod(p), time.Second), 5*time.Second))
	defer cancel()
	addr := netip.AddrPortFrom(ip, uint16(p.Port)).String()
	if p.Type == stack.ProbeTCP {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return "", err
		}
		conn.Close()
		return "tcp " + addr + " accepts connections", nil
	}
	url := "http://" + addr + cmp.Or(p.Path, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", "stackwave-probe")
	resp, err := probeClient.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	msg := "GET " + url + " answered " + strconv.Itoa(resp.StatusCode)
	if !codeExpected(resp.StatusCode, p.ExpectedCodes) {
		return "", fmt.Errorf("%s", msg)
	}
	return msg, nil
}

// probeClient uses no proxy and follows no redirect, like a Kubernetes
// probe.
var probeClient = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func codeExpected(code int, expected []int) bool {
	if len(expected) == 0 {
		return code >= 200 && code <= 399
	}
	for _, c := range expected {
		if c == code {
			return true
		}
	}
	return false
}
