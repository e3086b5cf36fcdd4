// Command controlplane is a control-plane server built on stackwave: the
// HTTP API over a SQLite catalog and a runtime, with bearer-token
// authentication and policy-based authorization. The stackwave serve
// command does the same with more options; this is the embedding view of
// it, to grow with your own routes.
//
//	go run ./examples/controlplane -tokens examples/controlplane/tokens.txt \
//	    -policy examples/controlplane/policy.json -runtime memory
//
// then, as the operator:
//
//	curl -H 'Authorization: Bearer ops-0123456789abcdef' \
//	    -d @examples/kodo-double.json http://127.0.0.1:8080/api/products
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store/sqlite"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	db := flag.String("db", "controlplane.db", "SQLite catalog file")
	tokensFile := flag.String("tokens", "", "bearer tokens: TOKEN PRINCIPAL [GROUP...] per line")
	policyFile := flag.String("policy", "", "JSON policy of Allow/Deny statements")
	runtimeName := flag.String("runtime", "memory", "memory (simulated); see ../docker and ../kube for real ones")
	flag.Parse()
	if err := run(*addr, *db, *tokensFile, *policyFile, *runtimeName); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

func run(addr, db, tokensFile, policyFile, runtimeName string) error {
	if tokensFile == "" || policyFile == "" {
		return errors.New("-tokens and -policy are required: this server authorizes every request")
	}
	tokens, err := auth.LoadTokens(tokensFile)
	if err != nil {
		return err
	}
	policy, err := auth.LoadPolicy(policyFile)
	if err != nil {
		return err
	}
	var rt runtime.Runtime
	switch runtimeName {
	case "memory":
		rt = sim.New(nil)
	default:
		return fmt.Errorf("runtime %q: this example wires only memory", runtimeName)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	ex := deploy.New(rt, st, nil)
	defer ex.Close()
	// Operations interrupted by a crash resume once their lease expires.
	if _, err := ex.ResumeAll(ctx); err != nil {
		return err
	}

	srv := &http.Server{
		Addr:              addr,
		Handler:           api.New(st, ex, &api.Options{Authenticator: tokens, Authorizer: policy, Logger: slog.Default()}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("serving the stackwave API", "addr", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
