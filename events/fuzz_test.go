package events

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: every event a queue delivers goes through Parse first. Never a
// panic; an accepted event validates, re-encodes to something Parse accepts
// with the same identity, and survives Fresh (the replay path).
// Seeds: every example, and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("examples", "*.json"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Parse(body)
		if err != nil {
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		raw, again, err := ev.Sealed()
		if err != nil {
			t.Fatalf("an accepted event does not seal: %v", err)
		}
		back, err := Parse(raw)
		if err != nil || back.ID != ev.ID || back.Type != ev.Type || again.ID != ev.ID {
			t.Fatalf("round trip: %v (%s → %s)", err, ev.ID, back.ID)
		}
		if _, err := Parse(Fresh(body)); err != nil {
			t.Fatalf("Fresh broke an accepted event: %v", err)
		}
	})
}
