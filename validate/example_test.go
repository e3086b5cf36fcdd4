package validate_test

import (
	"errors"
	"fmt"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/validate"
)

// Document returns every problem of a product, each with the path the
// user wrote.
func ExampleDocument() {
	doc, err := product.Decode([]byte(`{"product_name": "kodo",
 "stack_deps": [
  [{"stack_name": "mysql", "services": [{"service_name": "mysql-1", "unit_type": "3U3G",
     "image": {"name": "mysql", "tag": ""}, "envs": ["PASSWORD=s3cr3t", "PASSWORD=other"]}]}],
  [{"stack_name": "kodo", "depends_on": ["redis"], "services": [{"service_name": "Proxy", "unit_type": "1U1G",
     "image": {"name": "authproxy", "tag": "v1"},
     "access_point": {"type": "domain", "backend_ports": [0]}}]}]]}`))
	if err != nil {
		panic(err) // decoding errors match product.ErrInvalidArgs
	}
	err = validate.Document(doc, nil)
	var ve *validate.Error
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			fmt.Println(fe)
		}
	}
	fmt.Println(errors.Is(err, validate.ErrInvalid))
	// Output:
	// stack_deps[0][0].services[0].unit_type: Unsupported value: "3U3G": unit type "3U3G" is not in the catalog; supported: 1U1G, 1U2G, 1U4G, 1U8G, 2U4G, 2U8G, 2U16G, 4U8G, 4U16G, 4U32G, 8U16G, 8U32G
	// stack_deps[0][0].services[0].image.tag: Required value: must not be empty unless a digest is given
	// stack_deps[0][0].services[0].envs[1]: Duplicate value: "PASSWORD=<redacted>": env names must be unique in a service
	// stack_deps[1][0].depends_on[0]: Not found: "redis": no stack of that name in the product
	// stack_deps[1][0].services[0].service_name: Invalid value: "Proxy": must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit
	// stack_deps[1][0].services[0].access_point.backend_ports[0]: Invalid value: 0: must be between 1 and 65535
	// true
}
