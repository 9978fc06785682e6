package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/store"
)

// A state directory written by the previous ctsync (a table per kind of
// record) is carried into the store when it is first opened.
func TestAnEarlierStateDirectoryIsCarriedOver(t *testing.T) {
	dir := t.TempDir()
	db, err := localdb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE onboardings (id TEXT PRIMARY KEY, source_tenant TEXT, target_tenant TEXT, name TEXT, users TEXT, groups_json TEXT,
			requested_by TEXT, sp_id TEXT, app_id TEXT, app_role_id TEXT, job_id TEXT, state TEXT, step TEXT, last_event TEXT, detail TEXT,
			remedy TEXT, job_status TEXT, created_at INTEGER, updated_at INTEGER)`,
		`INSERT INTO onboardings VALUES ('o1', 's', 't', 'Contoso to Fabrikam', '["u1"]', '[]', 'CHG1', 'sp1', 'app1', 'role1', 'job1',
			'completed', 'read-job-status', 'source.job.observed', '', '', 'Active', 1764493200000, 1764493260000)`,
		`CREATE TABLE onboarding_steps (onboarding_id TEXT, step TEXT, state TEXT, attempts INTEGER, detail TEXT, started_at INTEGER, updated_at INTEGER)`,
		`INSERT INTO onboarding_steps VALUES ('o1', 'ensure-target-partner', 'done', 1, 'created', 1764493200000, 1764493200000)`,
		`CREATE TABLE intents (key TEXT PRIMARY KEY, state TEXT, object_id TEXT, started_at INTEGER, updated_at INTEGER)`,
		`INSERT INTO intents VALUES ('configuration-app/s/t', 'done', 'SP1', 1764493200000, 1764493201000)`,
		`CREATE TABLE harvest_checkpoints (config_key TEXT PRIMARY KEY, source_tenant TEXT, sp_id TEXT, watermark INTEGER, records INTEGER,
			pages INTEGER, updated_at INTEGER)`,
		`INSERT INTO harvest_checkpoints VALUES ('s/sp1', 's', 'sp1', 1764493200123456, 42, 3, 1764493200000)`,
		`CREATE TABLE harvest_seen (config_key TEXT, record_id TEXT, activity INTEGER)`,
		`INSERT INTO harvest_seen VALUES ('s/sp1', 'r41', 1764493200123456)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := store.NewSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(kv)
	ctx := context.Background()
	o, steps, err := s.GetOnboarding(ctx, "o1")
	if err != nil || o.State != store.StateCompleted || o.JobID != "job1" || len(o.Users) != 1 || len(steps) != 1 || steps[0].Detail != "created" {
		t.Fatalf("onboarding %+v %+v %v", o, steps, err)
	}
	if in, ok, err := s.Intent(ctx, "configuration-app/s/t"); err != nil || !ok || in.ObjectID != "SP1" {
		t.Fatalf("intent %+v %v %v", in, ok, err)
	}
	if keys, _ := s.IntentKeysFor(ctx, "sp1"); len(keys) != 1 {
		t.Fatalf("reverse lookup %v", keys)
	}
	cp, ok, err := s.GetCheckpoint(ctx, "s/sp1")
	if err != nil || !ok || cp.Records != 42 || !cp.Watermark.Equal(time.UnixMicro(1764493200123456).UTC()) {
		t.Fatalf("checkpoint %+v %v %v", cp, ok, err)
	}
	if seen, _ := s.SeenAmong(ctx, cp, []string{"r41"}); !seen["r41"] {
		t.Fatal("seen ids were not carried over")
	}
	var old int
	_ = db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name IN ('onboardings', 'intents', 'harvest_checkpoints')`).Scan(&old)
	if old != 0 {
		t.Fatalf("%d old tables left behind", old)
	}
	if _, err := store.NewSQLite(db); err != nil {
		t.Fatalf("opening again: %v", err)
	}
}
