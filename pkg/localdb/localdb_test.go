package localdb

import (
	"strings"
	"testing"
)

func TestTheJournalSuitsTheFilesystem(t *testing.T) {
	for _, c := range []struct {
		opts Options
		want string
	}{{Options{}, "wal"}, {Options{NetworkFilesystem: true}, "delete"}} {
		db, err := OpenWith(t.TempDir(), c.opts)
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if !strings.EqualFold(mode, c.want) {
			t.Errorf("%+v: journal mode %s, want %s", c.opts, mode, c.want)
		}
	}
}
