package desired

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite schema.json")

func TestSchemaFileMatchesTheCode(t *testing.T) {
	want, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("schema.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("schema.json differs from desired.Schema(); run make schemas")
	}
}
