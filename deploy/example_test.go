package deploy_test

import (
	"fmt"
	"os"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
)

// NewPlan turns stack_deps into the start and teardown order; the
// critical path is the shortest launch time with unbounded concurrency.
func ExampleNewPlan() {
	doc, err := product.Decode([]byte(`{"product_name": "kodo",
 "stack_deps": [
  [{"stack_name": "mysql", "services": [{"service_name": "db"}]},
   {"stack_name": "redis", "services": [{"service_name": "cache"}]}],
  [{"stack_name": "kodo-1", "services": [{"service_name": "api"}]},
   {"stack_name": "kodo-2", "services": [{"service_name": "api"}]}],
  [{"stack_name": "reports", "depends_on": ["mysql"], "services": [{"service_name": "cron"}]}]]}`))
	if err != nil {
		panic(err)
	}
	plan, err := deploy.NewPlan(doc.StackDeps)
	if err != nil {
		panic(err)
	}
	fmt.Println("start:", plan.Tiers())
	fmt.Println("teardown:", plan.Teardown())
	fmt.Println("kodo-2 waits for", plan.DependsOn("kodo-2"))
	fmt.Println("reports waits for", plan.DependsOn("reports"))

	estimate := map[string]time.Duration{
		"mysql": 40 * time.Second, "redis": 5 * time.Second,
		"kodo-1": 20 * time.Second, "kodo-2": 30 * time.Second,
		"reports": 90 * time.Second,
	}
	path, total := plan.CriticalPath(func(stack string) time.Duration { return estimate[stack] })
	fmt.Println("critical path:", path, total)

	_ = plan.WriteText(os.Stdout)
	// Output:
	// start: [[mysql redis] [kodo-1 kodo-2] [reports]]
	// teardown: [[reports] [kodo-1 kodo-2] [mysql redis]]
	// kodo-2 waits for [mysql redis]
	// reports waits for [mysql]
	// critical path: [mysql reports] 2m10s
	// 3 tiers, 5 stacks, 5 services
	// start:
	//   tier 0: mysql, redis
	//   tier 1: kodo-1, kodo-2
	//   tier 2: reports (after mysql)
	// teardown:
	//   tier 2: reports
	//   tier 1: kodo-1, kodo-2
	//   tier 0: mysql, redis
}
