package bus_test

import (
	"testing"

	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/bus/bustest"
	"github.com/ctsync/ctsync/pkg/localdb"
)

func newEmbeddedForTest(t *testing.T) *bus.Embedded {
	t.Helper()
	db, err := localdb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, err := bus.NewEmbedded(db)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEmbeddedMeetsTheContract(t *testing.T) {
	bustest.Contract(t, func(t *testing.T) (bus.Bus, string) { return newEmbeddedForTest(t), "steps" }, bustest.Options{})
}
