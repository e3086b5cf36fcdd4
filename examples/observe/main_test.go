package main

import (
	"context"
	"os"
)

func Example() {
	if err := run(context.Background(), os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// spans:
	//   deploy shop
	//     stackwave.launch stackwave.deployment=shop
	//       stackwave.store.acquire_lease
	//       stackwave.store.create_deployment
	//       stackwave.store.update_deployment
	//       stackwave.tier.0
	//         stackwave.stack stackwave.stack=db
	//           stackwave.runtime.apply
	//           stackwave.runtime.run_init
	//           stackwave.runtime.wait
	//       stackwave.tier.1
	//         stackwave.stack stackwave.stack=api
	//           stackwave.runtime.apply
	//           stackwave.runtime.wait
	//         stackwave.stack stackwave.stack=worker
	//           stackwave.runtime.apply
	//           stackwave.runtime.wait
	// metrics:
	//   stackwave.operation.duration [s] {stackwave.operation.type=launch, stackwave.outcome=succeeded} count=1
	//   stackwave.operations.active [{operation}] {stackwave.operation.type=launch} value=0
	//   stackwave.runtime.call.duration [s] {stackwave.call=apply, stackwave.runtime=sim} count=3
	//   stackwave.runtime.call.duration [s] {stackwave.call=run_init, stackwave.runtime=sim} count=1
	//   stackwave.runtime.call.duration [s] {stackwave.call=wait, stackwave.runtime=sim} count=3
	//   stackwave.stack.ready.duration [s] {stackwave.operation.type=launch} count=3
}
