//go:build !lambda.norpc

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ctsync/ctsync/pkg/host/azfunc"
)

// runFunctionsHost serves the Azure Functions custom handler protocol; host.json
// starts it. Settings, besides the Graph ones:
//
//	FUNCTIONS_CUSTOMHANDLER_PORT          set by the Functions host
//	ServiceBus__fullyQualifiedNamespace   the namespace, reached with the app's managed identity
//	                                      (ServiceBus__clientId for a user-assigned one), or
//	CTSYNC_SERVICEBUS_CONNECTION_STRING   a connection string
//	CTSYNC_STORE=tables and its settings   the shared store (Table Storage) and records (Blob Storage)
func runFunctionsHost(ctx context.Context, env *environment, args []string) error {
	if _, err := env.parse(newFlagSet("functions-host"), args); err != nil {
		return err
	}
	port := env.getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	if port == "" {
		port = env.getenv("FUNCTIONS_HTTPWORKER_PORT")
	}
	if port == "" {
		return errors.New("FUNCTIONS_CUSTOMHANDLER_PORT is not set: this command is started by the Azure Functions host (see host.json)")
	}
	sb, _, err := env.serviceBus()
	if err != nil {
		return err
	}
	defer sb.Close(context.WithoutCancel(ctx))
	host, err := env.openCloudHost(ctx, storeTables, sb, azfunc.APIBasePath)
	if err != nil {
		return err
	}
	h := &azfunc.Handler{Host: host}
	return serveHandler(ctx, net.JoinHostPort("127.0.0.1", port), h, host.Logger())
}

// serveHandler serves h until ctx ends, then lets running invocations finish.
func serveHandler(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("custom handler listening", "addr", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("custom handler: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return srv.Shutdown(shutdown)
}
