// Package sample builds product documents for benchmarks and tests: a
// realistic product of any number of stacks and services, written the way
// control planes write them (both envs forms, both access point forms).
package sample

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Document returns the JSON of a product with stacks stacks of services
// services each, in tiers of at most tierWidth stacks. Every stack of a
// tier after the first depends on the whole previous tier, except every
// seventh, which lists depends_on: the last stack of the previous tier and
// one of an earlier tier.
//
// Services carry an image, a unit type, three or four envs and a command;
// every third has a volume, every second an access point, every fifth a
// config file.
func Document(stacks, services, tierWidth int) []byte {
	var b bytes.Buffer
	b.Grow(stacks * services * 420)
	b.WriteString(`{"product_name": "sample", "provider_name": "stackwave", "description": "benchmark product",` + "\n" + ` "stack_deps": [`)
	units := [...]string{"1U1G", "1U2G", "2U4G", "4U8G"}
	for s := 0; s < stacks; s++ {
		tier, pos := s/tierWidth, s%tierWidth
		switch {
		case s == 0:
			b.WriteString("\n  [")
		case pos == 0:
			b.WriteString("],\n  [")
		default:
			b.WriteString(",")
		}
		name := "stack-" + strconv.Itoa(s)
		b.WriteString("\n   {\"stack_name\": \"" + name + "\",")
		if tier > 0 && s%7 == 0 {
			last, early := tier*tierWidth-1, (tier-1)*tierWidth/2
			b.WriteString(` "depends_on": ["stack-` + strconv.Itoa(last) + `"`)
			if early != last {
				b.WriteString(`, "stack-` + strconv.Itoa(early) + `"`)
			}
			b.WriteString(`],`)
		}
		b.WriteString(` "services": [`)
		for k := 0; k < services; k++ {
			if k > 0 {
				b.WriteString(",")
			}
			n := s*services + k
			app := strconv.Itoa(k)
			b.WriteString("\n    {\"service_name\": \"svc-" + app + "\", \"unit_type\": \"" + units[n%len(units)] + "\",")
			b.WriteString(` "image": {"name": "registry.example.com/team/app-` + app + `", "tag": "v1.` + strconv.Itoa(k%3) + `.0"},`)
			if n%4 == 0 {
				b.WriteString(` "envs": {"APP_MODE": "production", "LOG_LEVEL": "info", "PEER": "` + name + `"},`)
			} else {
				b.WriteString(` "envs": ["APP_MODE=production", "LOG_LEVEL=info", "WORKERS=4", "PEER=` + name + `"],`)
			}
			b.WriteString(` "command": ["/bin/app-` + app + `", "--config=/etc/app/app.conf", "--port=8080"]`)
			if n%3 == 0 {
				b.WriteString(`, "volume_args": [{"mount_path": "/var/lib/app", "unit_type": "SSD1_20G"}]`)
			}
			switch n % 4 {
			case 1:
				b.WriteString(`, "access_point": {"type": "domain", "backend_ports": [8080]}`)
			case 3:
				b.WriteString(`, "access_points": [{"type": "internal_ip", "backend_ports": [9000, 9001], "proto": "tcp"}]`)
			}
			if n%5 == 0 {
				b.WriteString(`, "config_paths": ["/etc/app/app.conf"]`)
			}
			b.WriteString("}")
		}
		b.WriteString("]}")
	}
	if stacks > 0 {
		b.WriteString("]")
	}
	b.WriteString("\n ]\n}\n")
	return b.Bytes()
}

// WideTier returns the JSON of a product named name of one tier of n
// stacks ("s0000", "s0001", ...), each one service "app" of unit 1U1G
// with an internal access point on port 8080: on Kubernetes a Deployment
// and a Service per stack, the shape of the command-line benchmarks.
func WideTier(name string, n int) []byte {
	type svc struct {
		Name   string         `json:"service_name"`
		Unit   string         `json:"unit_type"`
		Image  map[string]any `json:"image"`
		Access map[string]any `json:"access_point"`
	}
	type stk struct {
		Name     string `json:"stack_name"`
		Services []svc  `json:"services"`
	}
	tier := make([]stk, n)
	for i := range tier {
		tier[i] = stk{Name: fmt.Sprintf("s%04d", i), Services: []svc{{
			Name: "app", Unit: "1U1G", Image: map[string]any{"name": "registry.kube.test/app", "tag": "1"},
			Access: map[string]any{"type": "internal_ip", "backend_ports": []int{8080}},
		}}}
	}
	b, err := json.Marshal(map[string]any{"product_name": name, "stack_deps": [][]stk{tier}})
	if err != nil {
		panic(err)
	}
	return b
}
