package store_test

import (
	"testing"

	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/store"
	"github.com/ctsync/ctsync/pkg/store/storetest"
)

// Each handle opens the state directory anew, as another process would.
func TestSQLiteMeetsTheContract(t *testing.T) {
	storetest.Contract(t, func(t *testing.T) func() store.KV {
		dir := t.TempDir()
		return func() store.KV {
			db, err := localdb.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			kv, err := store.NewSQLite(db)
			if err != nil {
				t.Fatal(err)
			}
			return kv
		}
	})
}
