package dynamostore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ctsync/ctsync/pkg/emulators"
	"github.com/ctsync/ctsync/pkg/store"
	"github.com/ctsync/ctsync/pkg/store/dynamostore"
	"github.com/ctsync/ctsync/pkg/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(emulators.Main(m)) }

var tables atomic.Int64

// Each backend is a fresh table on moto; each handle a client of its own.
func TestDynamoDBMeetsTheContract(t *testing.T) {
	emulators.StartMoto(t).Apply(t)
	client := func(t *testing.T) *dynamodb.Client {
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return dynamodb.NewFromConfig(cfg)
	}
	storetest.Contract(t, func(t *testing.T) func() store.KV {
		name := fmt.Sprintf("ctsync-%d", tables.Add(1))
		if err := dynamostore.CreateTable(context.Background(), client(t), name); err != nil {
			t.Fatal(err)
		}
		return func() store.KV { return dynamostore.New(client(t), name) }
	})
}
