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
	// first launch: Tainted; worker failed: true (exit code 2); secret shown: false
	// second launch: Available, running
	//   tier 0 db/postgres: 1/1 ready
	//   tier 1 api/server: 2/2 ready
	//   tier 1 worker/jobs: 1/1 ready
	// update preview: 3 stacks: 0 to add, 1 to modify, 0 to remove, 2 unchanged
	//     db (tier 0)
	//   ~ api (tier 1, replace): server: image.tag
	//     worker (tier 1)
	// terminated: Terminated, 1 volume kept
}
