package harvest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ctsync/ctsync/pkg/entra"
	"github.com/ctsync/ctsync/pkg/store"
)

// Page identifies one committed page of one configuration's records: the
// page read from checkpoint Number-1. Read again after a crash, the same
// page has the same identity.
type Page struct {
	Config store.Configuration
	Number int64
}

// Sink receives collected records, exactly once when it can:
//
//   - a sink that stores each page under the page's identity (an object
//     named after it, in Blob Storage or S3) rewrites the same object when
//     the page is read again after a crash, so it never holds a page twice;
//   - a sink that appends (Appender: a local file, the local records table)
//     reports its position, which the harvester commits with the checkpoint,
//     and is rewound to it after a crash before the page is read again.
//
// A stream that can do neither (stdout) gets every record at least once.
// Other cloud sinks (Azure Monitor Logs ingestion) implement the same
// interface; the harvester does not change.
type Sink interface {
	// Name identifies the sink in logs and in the store.
	Name() string
	// Accept durably stores one page of records, in activity order.
	Accept(ctx context.Context, page Page, records []entra.LogRecord) error
}

// Appender is a sink that appends.
type Appender interface {
	Sink
	// Position returns how far the sink has durably accepted, or -1 when it
	// cannot tell.
	Position(ctx context.Context) (int64, error)
	// Rewind discards what was accepted after pos.
	Rewind(ctx context.Context, pos int64) error
}

// JSONLines writes each record, exactly as Graph sent it, as one line of
// JSON to a file, fsynced before Accept returns.
type JSONLines struct {
	path string
	f    *os.File
}

// OpenJSONLines opens (creating) path for appending.
func OpenJSONLines(path string) (*JSONLines, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, os.O_CREATE|os.O_RDWR, 0o600) // user names and provisioning outcomes
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return &JSONLines{path: abs, f: f}, nil
}

// Name implements Sink.
func (j *JSONLines) Name() string { return "jsonl:" + j.path }

// Accept implements Sink.
func (j *JSONLines) Accept(ctx context.Context, _ Page, records []entra.LogRecord) error {
	if _, err := j.f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	w := bufio.NewWriterSize(j.f, 256<<10)
	for _, r := range records {
		w.Write(r.Raw)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", j.path, err)
	}
	return j.f.Sync()
}

// Position implements Sink: the file's size.
func (j *JSONLines) Position(context.Context) (int64, error) {
	st, err := j.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Rewind implements Sink by truncating the file. A file shorter than pos
// was rotated or truncated by someone else; it is left alone.
func (j *JSONLines) Rewind(ctx context.Context, pos int64) error {
	size, err := j.Position(ctx)
	if err != nil || size <= pos {
		return err
	}
	if err := j.f.Truncate(pos); err != nil {
		return err
	}
	return j.f.Sync()
}

// Close closes the file.
func (j *JSONLines) Close() error { return j.f.Close() }

// Stream writes JSON lines to a stream such as stdout. A stream cannot be
// rewound, so after a crash a page may be written twice.
type Stream struct {
	W    io.Writer
	name string
}

// NewStream returns a sink writing to w, called name in logs.
func NewStream(w io.Writer, name string) *Stream { return &Stream{W: w, name: name} }

// Name implements Sink.
func (s *Stream) Name() string { return "stream:" + s.name }

// Accept implements Sink.
func (s *Stream) Accept(ctx context.Context, _ Page, records []entra.LogRecord) error {
	w := bufio.NewWriter(s.W)
	for _, r := range records {
		w.Write(r.Raw)
		w.WriteByte('\n')
	}
	return w.Flush()
}

// Position implements Sink: unknown.
func (s *Stream) Position(context.Context) (int64, error) { return -1, nil }

// Rewind implements Sink: impossible, so nothing is done.
func (s *Stream) Rewind(context.Context, int64) error { return nil }

// StoreSink keeps records in the local records table, where `ctsync logs`
// queries them. Its position is the last record's sequence number.
type StoreSink struct{ Store *store.Records }

// Name implements Sink.
func (s StoreSink) Name() string { return "store" }

// Accept implements Sink.
func (s StoreSink) Accept(ctx context.Context, page Page, records []entra.LogRecord) error {
	cfg := page.Config
	recs := make([]store.Record, len(records))
	for i, r := range records {
		recs[i] = store.Record{ID: r.ID, SourceTenantID: cfg.SourceTenantID, ServicePrincipalID: r.ServicePrincipalID, JobID: r.JobID,
			Activity: r.ActivityDateTime, Status: r.Status, Action: r.Action, SourceID: r.SourceID, SourceName: r.SourceName,
			TargetID: r.TargetID, ErrorCode: r.ErrorCode, Reason: r.Reason, Raw: string(r.Raw)}
		if recs[i].ServicePrincipalID == "" {
			recs[i].ServicePrincipalID = cfg.ServicePrincipalID
		}
	}
	return s.Store.InsertRecords(ctx, recs)
}

// Position implements Sink.
func (s StoreSink) Position(ctx context.Context) (int64, error) { return s.Store.LastRecordSeq(ctx) }

// Rewind implements Sink.
func (s StoreSink) Rewind(ctx context.Context, pos int64) error {
	return s.Store.DeleteRecordsAfter(ctx, pos)
}
