package api_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// A control plane with authorization, on the memory store and the
// simulated runtime: operators may do everything, readers may look.
func Example() {
	ctx := context.Background()
	st := memory.New(nil)
	ex := deploy.New(sim.New(nil), st, nil)
	defer ex.Close()

	tokens, err := auth.ParseTokens(strings.NewReader(`
ops-0123456789abcdef   olivia  operators
read-0123456789abcdef  ravi    readers
`))
	if err != nil {
		panic(err)
	}
	policy, err := auth.ParsePolicy([]byte(`{"Statement": [
  {"Sid": "Operators", "Effect": "Allow", "Principal": "group:operators", "Action": "stackwave:*", "Resource": "*"},
  {"Sid": "Readers", "Effect": "Allow", "Principal": "group:readers",
   "Action": ["stackwave:Get*", "stackwave:List*", "stackwave:StreamEvents"], "Resource": "*"}
]}`))
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(api.New(st, ex, &api.Options{Authenticator: tokens, Authorizer: policy}))
	defer srv.Close()

	operator := &api.Client{URL: srv.URL, Token: "ops-0123456789abcdef"}
	reader := &api.Client{URL: srv.URL, Token: "read-0123456789abcdef"}
	stranger := &api.Client{URL: srv.URL}
	outcome := func(err error) string {
		var e *api.Error
		if errors.As(err, &e) {
			return e.Code + " " + e.Message
		}
		if err != nil {
			return err.Error()
		}
		return "200"
	}

	doc := []byte(`{"product_name": "web", "stack_deps": [[{"stack_name": "web", "services": [
	  {"service_name": "nginx", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.27"},
	   "access_point": {"type": "domain", "backend_ports": [80]}}]}]]}`)
	_, err = stranger.CreateProduct(ctx, doc)
	fmt.Println("stranger creates:", outcome(err))
	_, err = reader.CreateProduct(ctx, doc)
	fmt.Println("reader creates:", outcome(err))
	created, err := operator.CreateProduct(ctx, doc)
	fmt.Println("operator creates:", outcome(err))
	list, err := reader.ListProducts(ctx, store.ProductQuery{})
	fmt.Println("reader lists:", outcome(err), list.Products[0].Name, "by", list.Products[0].ProviderName)

	// The launch answers at once; the events show it to its end.
	var launched api.Submitted
	err = operator.Do(ctx, "POST", "/api/deployments", api.LaunchRequest{Name: "web-1", VersionID: created.VersionID}, &launched)
	fmt.Println("operator launches:", outcome(err))
	req, _ := http.NewRequest("GET", srv.URL+"/api/deployments/web-1/events?operation_id="+launched.OperationID, nil)
	req.Header.Set("Authorization", "Bearer read-0123456789abcdef")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if _, data, ok := strings.Cut(sc.Text(), `"type":"`); ok {
			fmt.Println("  event", strings.SplitN(data, `"`, 2)[0])
		}
	}
	res.Body.Close()

	var dep api.DeploymentResponse
	err = reader.Do(ctx, "GET", "/api/deployments/web-1", nil, &dep)
	svc := dep.Deployment.Stacks[0].Services[0]
	fmt.Println("reader reads:", outcome(err), dep.Deployment.Status, svc.Endpoints[0].Host)

	_, err = reader.DeleteProduct(ctx, "web")
	fmt.Println("reader deletes:", outcome(err))
	_, err = operator.DeleteProduct(ctx, "web")
	var e *api.Error
	if errors.As(err, &e) {
		fmt.Println("operator deletes:", outcome(err))
		fmt.Println(" ", e.Details[0].Detail)
	}
	// Output:
	// stranger creates: 401 Unauthorized
	// reader creates: 403 Forbidden
	// operator creates: 200
	// reader lists: 200 web by olivia
	// operator launches: 200
	//   event operation-started
	//   event stack-applying
	//   event service-created
	//   event stack-waiting
	//   event service-ready
	//   event stack-ready
	//   event operation-done
	// reader reads: 200 Available nginx.web.web-1.stackwave.local
	// reader deletes: 403 Forbidden
	// operator deletes: 624 Delete Product Error
	//   the product is deployed as web-1 (Available): terminate these deployments and delete their records first
}
