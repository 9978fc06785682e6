package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ctsync/ctsync/pkg/api"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/harvest/s3objects"
	"github.com/ctsync/ctsync/pkg/host/cloud"
	"github.com/ctsync/ctsync/pkg/host/settle"
	"github.com/ctsync/ctsync/pkg/offboard"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/store"
	"github.com/ctsync/ctsync/pkg/store/dynamostore"
)

// Stores CTSYNC_STORE can name.
const (
	storeSQLite   = "sqlite"   // the local host: one file in the state directory
	storeTables   = "tables"   // Azure Table Storage (records in Blob Storage)
	storeDynamoDB = "dynamodb" // Amazon DynamoDB (records in S3)
)

// storeKind reads CTSYNC_STORE, defaulting to def.
func (e *environment) storeKind(def string) (string, error) {
	switch v := e.getenv("CTSYNC_STORE"); v {
	case "":
		return def, nil
	case storeSQLite, storeTables, storeDynamoDB:
		return v, nil
	default:
		return "", fmt.Errorf("CTSYNC_STORE=%q is not a store ctsync knows: sqlite (local), tables (Azure Table Storage) or dynamodb (Amazon DynamoDB)", v)
	}
}

// sharedState is a cloud store: the state every process shares, and the
// object store the collected records go to.
type sharedState struct {
	kind    string
	store   *store.Store
	objects harvest.Objects
	label   string
}

// openSharedState opens the cloud store kind names:
//
//	tables:   CTSYNC_STORAGE_CONNECTION_STRING, or CTSYNC_TABLES_ENDPOINT and CTSYNC_BLOB_ENDPOINT
//	          with the host's managed identity (CTSYNC_STORAGE_CLIENT_ID for a user-assigned one);
//	          CTSYNC_TABLE (default ctsync), CTSYNC_BLOB_CONTAINER (default provisioning)
//	dynamodb: the AWS SDK's default configuration (AWS_REGION; AWS_ENDPOINT_URL for an emulator);
//	          CTSYNC_DYNAMODB_TABLE (default ctsync), CTSYNC_S3_BUCKET, CTSYNC_S3_PREFIX (default provisioning/)
func (e *environment) openSharedState(ctx context.Context, kind string) (*sharedState, error) {
	get := func(name, def string) string {
		if v := e.getenv(name); v != "" {
			return v
		}
		return def
	}
	switch kind {
	case storeTables:
		return e.openAzureState(ctx, get)
	case storeDynamoDB:
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("AWS configuration: %w", err)
		}
		if cfg.Region == "" {
			return nil, errors.New("CTSYNC_STORE=dynamodb needs an AWS region: set AWS_REGION")
		}
		bucket := e.getenv("CTSYNC_S3_BUCKET")
		if bucket == "" {
			return nil, errors.New("CTSYNC_STORE=dynamodb needs CTSYNC_S3_BUCKET, the bucket collected provisioning records go to")
		}
		kv := dynamostore.New(dynamodb.NewFromConfig(cfg), get("CTSYNC_DYNAMODB_TABLE", "ctsync"))
		objects := s3objects.New(s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = true // custom endpoints (emulators) serve path-style
			o.DisableLogOutputChecksumValidationSkipped = true
		}), bucket, get("CTSYNC_S3_PREFIX", "provisioning/"))
		return &sharedState{kind: kind, store: store.New(kv), objects: objects, label: "s3:" + bucket}, nil
	}
	return nil, fmt.Errorf("%s is not a shared store", kind)
}

// openCloudHost builds what a cloud host runs: the chain, the shared store,
// and the host's shared half (router, intake, harvester) publishing to out,
// the cloud's queues. It opens no embedded queue, no local host and no
// SQLite file: many instances share the store.
func (e *environment) openCloudHost(ctx context.Context, defaultStore string, out bus.Publisher, apiBasePath string) (*cloud.Host, error) {
	log := e.logger(slog.LevelInfo)
	kind, err := e.storeKind(defaultStore)
	if err != nil {
		return nil, err
	}
	if kind == storeSQLite {
		return nil, errors.New("CTSYNC_STORE=sqlite is the local host's store; the cloud hosts share Table Storage (tables) or DynamoDB (dynamodb)")
	}
	cfg, err := e.appConfig(log)
	if err != nil {
		return nil, err
	}
	hopts, err := e.harvestOptions(log)
	if err != nil {
		return nil, err
	}
	gc, err := graph.New(cfg.Graph)
	if err != nil {
		return nil, err
	}
	shared, err := e.openSharedState(ctx, kind)
	if err != nil {
		return nil, err
	}
	cfg.Chain.Log = log
	c, err := app.NewChain(gc, shared.store, cfg.Chain)
	if err != nil {
		return nil, err
	}
	sink := harvest.ObjectSink{Objects: shared.objects, Label: shared.label}
	intake := c.Intake(out, shared.store)
	return &cloud.Host{
		Router:  c.Router(settle.Publishing{Out: out}, shared.store),
		Intake:  intake.Accept,
		Harvest: c.Harvester(shared.store, out, []harvest.Sink{sink}, hopts).Run,
		Drift:   c.Drift(shared.store, out).Run,
		// Status reads the shared store, so any instance answers for any onboarding.
		API: (&api.Server{Intake: intake, Store: shared.store, BasePath: apiBasePath, Log: log,
			Offboarding: &offboard.Previewer{Dirs: gc, Store: shared.store}}).Handler(),
		Log: log,
	}, nil
}

// queueNames are the queues a cloud deployment has: one per step, and the
// dead-letter queue.
func queueNames() []string {
	return append(stepQueues(), settle.DeadLetterQueue)
}

// stepQueues are the chain's step queues, from the table.
func stepQueues() []string {
	table, err := onboarding.Table(nil, nil)
	if err != nil {
		panic(err) // the table is static: a test would have failed
	}
	return table.Queues()
}
