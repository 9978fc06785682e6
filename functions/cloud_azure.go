//go:build !lambda.norpc

package main

import (
	"context"
	"errors"

	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/bus/servicebus"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/harvest/blobobjects"
	"github.com/ctsync/ctsync/pkg/store"
	"github.com/ctsync/ctsync/pkg/store/tablestore"
)

// openAzureState opens Table Storage and Blob Storage (CTSYNC_STORE=tables).
// The Lambda bootstrap is built without it (-tags lambda.norpc): the Azure
// SDKs would only add to its deployment zip.
func (e *environment) openAzureState(ctx context.Context, get func(name, def string) string) (*sharedState, error) {
	tables, blobs, conn := e.getenv("CTSYNC_TABLES_ENDPOINT"), e.getenv("CTSYNC_BLOB_ENDPOINT"), e.getenv("CTSYNC_STORAGE_CONNECTION_STRING")
	var err error
	var kv *tablestore.KV
	var objects *blobobjects.Container
	container := get("CTSYNC_BLOB_CONTAINER", "provisioning")
	switch {
	case conn != "":
		if kv, err = tablestore.Connect(ctx, conn, nil, get("CTSYNC_TABLE", "ctsync")); err == nil {
			objects, err = blobobjects.Connect(ctx, conn, nil, container)
		}
	case tables != "" && blobs != "":
		cred, cerr := graph.PlatformCredential(e.getenv("CTSYNC_STORAGE_CLIENT_ID"))
		if cerr != nil {
			return nil, cerr
		}
		if kv, err = tablestore.Connect(ctx, tables, cred, get("CTSYNC_TABLE", "ctsync")); err == nil {
			objects, err = blobobjects.Connect(ctx, blobs, cred, container)
		}
	default:
		return nil, errors.New("CTSYNC_STORE=tables needs CTSYNC_TABLES_ENDPOINT and CTSYNC_BLOB_ENDPOINT (the storage account's endpoints, " +
			"reached with the host's managed identity) or CTSYNC_STORAGE_CONNECTION_STRING")
	}
	if err != nil {
		return nil, err
	}
	return &sharedState{kind: storeTables, store: store.New(kv), objects: objects, label: "blob:" + container}, nil
}

// serviceBus connects to the deployment's Service Bus namespace, with the
// app's managed identity (ServiceBus__fullyQualifiedNamespace, and
// ServiceBus__clientId for a user-assigned one) or a connection string
// (CTSYNC_SERVICEBUS_CONNECTION_STRING). It returns the namespace for people.
func (e *environment) serviceBus() (*servicebus.Queue, string, error) {
	switch ns, conn := e.getenv("ServiceBus__fullyQualifiedNamespace"), e.getenv("CTSYNC_SERVICEBUS_CONNECTION_STRING"); {
	case ns != "":
		cred, err := graph.PlatformCredential(e.getenv("ServiceBus__clientId"))
		if err != nil {
			return nil, "", err
		}
		sb, err := servicebus.Connect(ns, cred, queueNames())
		return sb, ns, err
	case conn != "":
		sb, err := servicebus.Connect(conn, nil, queueNames())
		return sb, "connection string", err
	}
	return nil, "", errors.New("no Service Bus: set ServiceBus__fullyQualifiedNamespace (managed identity) or CTSYNC_SERVICEBUS_CONNECTION_STRING")
}

// serviceBusPublisher is serviceBus for the commands that only post.
func (e *environment) serviceBusPublisher() (bus.Publisher, func(), string, error) {
	sb, where, err := e.serviceBus()
	if err != nil {
		return nil, nil, "", err
	}
	return sb, func() { _ = sb.Close(context.Background()) }, where, nil
}
