// Command capgen writes a package's capability combination table; see
// package capgen. It is run by go:generate:
//
//	capgen -package runtime -base Runtime -wrapper '*wrapped' -unwrapper unwrapper -var composers -o wrap_gen.go Lifecycle VolumeLister ...
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/stackwave/stackwave/internal/capgen"
)

func main() {
	var c capgen.Config
	var out string
	flag.StringVar(&c.Package, "package", "", "package clause of the file")
	flag.StringVar(&c.Base, "base", "", "interface every result implements")
	flag.StringVar(&c.Wrapper, "wrapper", "", "wrapper type implementing every interface")
	flag.StringVar(&c.Unwrapper, "unwrapper", "", "interface every result embeds as well")
	flag.StringVar(&c.Var, "var", "composers", "name of the table")
	flag.StringVar(&out, "o", "", "output file")
	flag.Parse()
	c.Capabilities = flag.Args()
	src, err := capgen.Generate(c)
	if err == nil {
		err = os.WriteFile(out, src, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
