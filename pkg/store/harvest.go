package store

// harvestSchema holds the harvester's state: a checkpoint per configuration,
// the ids already delivered inside the overlap window, each sink's committed
// position, and the collected records themselves (the embedded sink).
const harvestSchema = `
CREATE TABLE IF NOT EXISTS harvest_checkpoints (
	config_key    TEXT PRIMARY KEY,
	source_tenant TEXT NOT NULL,
	sp_id         TEXT NOT NULL,
	watermark     INTEGER NOT NULL,
	records       INTEGER NOT NULL DEFAULT 0,
	pages         INTEGER NOT NULL DEFAULT 0,
	updated_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS harvest_seen (
	config_key TEXT NOT NULL,
	record_id  TEXT NOT NULL,
	activity   INTEGER NOT NULL,
	PRIMARY KEY (config_key, record_id)
);
CREATE INDEX IF NOT EXISTS harvest_seen_activity ON harvest_seen(config_key, activity);
CREATE TABLE IF NOT EXISTS harvest_sinks (
	sink     TEXT PRIMARY KEY,
	position TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS provisioning_records (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	record_id     TEXT NOT NULL UNIQUE,
	source_tenant TEXT NOT NULL,
	sp_id         TEXT NOT NULL,
	job_id        TEXT NOT NULL,
	activity      INTEGER NOT NULL,
	status        TEXT NOT NULL,
	action        TEXT NOT NULL,
	source_id     TEXT NOT NULL,
	source_name   TEXT NOT NULL,
	target_id     TEXT NOT NULL,
	error_code    TEXT NOT NULL,
	reason        TEXT NOT NULL,
	raw           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS provisioning_records_sp ON provisioning_records(sp_id, activity);
CREATE INDEX IF NOT EXISTS provisioning_records_status ON provisioning_records(status, activity);
CREATE INDEX IF NOT EXISTS provisioning_records_source ON provisioning_records(source_id);
`
