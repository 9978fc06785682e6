//go:build !lambda.norpc

package main

import (
	"context"
	"errors"

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
