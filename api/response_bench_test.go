package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

// worstDocument is the product within validate.DefaultLimits whose
// deployment answers the largest status: every service, instance and
// port the limits allow (5,000 services in 50 stacks of 100, 2 instances
// and 2 ports each: 10,000 instances and 10,000 endpoints).
func worstDocument() string {
	lim := validate.DefaultLimits()
	const perStack = 100
	stacks := lim.Services / perStack
	instances := lim.Instances / lim.Services
	ports := lim.Ports / lim.Services
	var b strings.Builder
	b.WriteString(`{"product_name": "worst", "stack_deps": [[`)
	for s := range stacks {
		if s > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"stack_name": "stack-%d", "services": [`, s)
		for k := range perStack {
			if k > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"service_name": "service-%d", "unit_type": "1U1G", "image": {"name": "registry.example.com/team/app", "tag": "v1.0.0"}, "instances": %d, "access_points": [{"type": "internal_ip", "backend_ports": [`, k, instances)
			for p := range ports {
				if p > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "%d", 8000+p)
			}
			b.WriteString(`]}]}`)
		}
		b.WriteString("]}")
	}
	b.WriteString("]]}")
	return b.String()
}

// BenchmarkLargestResponse measures, for the worst document the default
// limits accept, the largest answers of the API: the deployment's status
// and the product with its version.
func BenchmarkLargestResponse(b *testing.B) {
	h := newHarness(b, nil)
	doc := worstDocument()
	if err := validate.Size(len(doc), &validate.Options{Limits: validate.DefaultLimits()}); err != nil {
		b.Fatal(err)
	}
	_, vid := h.create(doc)
	var sub api.Submitted
	h.must("POST", "/api/deployments", `{"name": "worst", "product_version_id": "`+vid+`"}`, &sub)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		d, err := h.st.GetDeployment(context.Background(), "worst")
		if err == nil && d.Status == store.StatusAvailable {
			break
		}
		if err == nil && d.Status == store.StatusError || time.Now().After(deadline) {
			b.Fatalf("the launch did not end: %+v %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Logf("document: %d bytes", len(doc))
	for _, r := range []struct{ name, path string }{
		{"deployment status", "/api/deployments/worst"},
		{"product and versions", "/api/products/worst"},
	} {
		b.Run(r.name, func(b *testing.B) {
			size := 0
			for b.Loop() {
				res := h.do("GET", r.path, "")
				if res.status != 200 {
					b.Fatal(res)
				}
				size = len(res.body)
			}
			b.ReportMetric(float64(size), "bytes/response")
		})
	}
}
