package tablestore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/emulators"
	"github.com/ctsync/ctsync/pkg/store"
	"github.com/ctsync/ctsync/pkg/store/storetest"
	"github.com/ctsync/ctsync/pkg/store/tablestore"
)

func TestMain(m *testing.M) { os.Exit(emulators.Main(m)) }

var tables atomic.Int64

// Each backend is a fresh table on Azurite; each handle a client of its own.
func TestTableStorageMeetsTheContract(t *testing.T) {
	az := emulators.StartAzurite(t)
	storetest.Contract(t, func(t *testing.T) func() store.KV {
		name := fmt.Sprintf("ctsync%d%d", time.Now().UnixNano()%1e9, tables.Add(1))
		return func() store.KV {
			kv, err := tablestore.Connect(context.Background(), az.ConnectionString, nil, name)
			if err != nil {
				t.Fatal(err)
			}
			return kv
		}
	})
}
