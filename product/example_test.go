package product_test

import (
	"fmt"
	"os"

	"github.com/stackwave/stackwave/product"
)

// Decode reads a product document as control planes send it; Hash
// identifies its spec however it was written.
func ExampleDecode() {
	data, err := os.ReadFile("../examples/kodo-double.json")
	if err != nil {
		panic(err)
	}
	doc, err := product.Decode(data)
	if err != nil {
		panic(err)
	}
	tiers, stacks, services := doc.StackDeps.Counts()
	fmt.Printf("%s: %d tiers, %d stacks, %d services\n", doc.Name, tiers, stacks, services)
	mysql := doc.StackDeps[0][0].Services[0]
	fmt.Println(mysql.Image, mysql.Envs, mysql.VolumeArgs[0].UnitType)
	fmt.Println(product.Hash(doc.StackDeps))

	// The same spec in YAML, with envs as a mapping, hashes the same.
	yaml, err := product.Decode([]byte(`
product_name: kodo-double
stack_deps:
- - stack_name: mysql-cluster
    services:
    - service_name: mysql-1
      unit_type: 1U1G
      image: {name: mysql, tag: latest}
      envs: {MYSQL_ALLOW_EMPTY_PASSWORD: 1}
      command: [mysqld, --server-id=1]
      volume_args: [{mount_path: /var/lib/mysql, unit_type: SSD1_10G}]
- - stack_name: kodo-1
    services:
    - service_name: authproxy-in
      unit_type: 1U1G
      access_point: {type: domain, backend_ports: [9085]}
      image: {name: authproxy-in.kodo-1, tag: latest}
      config_paths: [/authproxy_in/qboxauthproxy.conf]
  - stack_name: kodo-2
    services:
    - service_name: authproxy-in
      unit_type: 1U1G
      access_points: [{type: domain, backend_ports: [9085]}]
      image: {name: authproxy-in.kodo-2, tag: latest}
      config_paths: [/authproxy_in/qboxauthproxy.conf]
`))
	if err != nil {
		panic(err)
	}
	fmt.Println(product.Hash(yaml.StackDeps) == product.Hash(doc.StackDeps))
	// Output:
	// kodo-double: 2 tiers, 3 stacks, 3 services
	// mysql:latest [MYSQL_ALLOW_EMPTY_PASSWORD=1] SSD1_10G
	// sha256:df0275b61975bca3142df6767c78ffeca9e62f4df5ebc389bfdb67a3fc781630
	// true
}

// A document that cannot be decoded names the field and where it is.
func ExampleDecode_unknownField() {
	_, err := product.Decode([]byte(`{"product_name": "kodo",
  "stack_deps": [[{"stack_name": "a", "services": [{"service_name": "s", "imagee": {}}]}]]}`))
	fmt.Println(err)
	// Output:
	// invalid product args: line 2, column 74: stack_deps[0][0].services[0].imagee: unknown field "imagee"
}
