package harvest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ctsync/ctsync/pkg/entra"
)

// Objects is an object store (Azure Blob Storage, Amazon S3): where the
// cloud hosts keep collected records, because it scales with them and the
// state store does not need to.
type Objects interface {
	// Put writes name, replacing it if it exists.
	Put(ctx context.Context, name string, body []byte) error
	// List returns the names that start with prefix.
	List(ctx context.Context, prefix string) ([]string, error)
	Get(ctx context.Context, name string) ([]byte, error)
}

// ObjectSink writes each page as one JSON Lines object named after the
// page (its configuration and number): a page read again after a crash
// rewrites the same object, so every record is stored once.
type ObjectSink struct {
	Objects Objects
	// Label names the sink in logs (e.g. "blob:provisioning").
	Label string
}

// Name implements Sink.
func (s ObjectSink) Name() string { return s.Label }

// ObjectName is where a page's records are stored.
func ObjectName(p Page) string {
	return fmt.Sprintf("%s/%s/%012d.jsonl", strings.ToLower(p.Config.SourceTenantID), strings.ToLower(p.Config.ServicePrincipalID), p.Number)
}

// Accept implements Sink.
func (s ObjectSink) Accept(ctx context.Context, page Page, records []entra.LogRecord) error {
	var buf bytes.Buffer
	for _, r := range records {
		buf.Write(r.Raw)
		buf.WriteByte('\n')
	}
	return s.Objects.Put(ctx, ObjectName(page), buf.Bytes())
}

// RecordFilter selects records read back from objects; zero fields select
// everything.
type RecordFilter struct {
	ServicePrincipalID string
	Status             string
	Since              time.Time
	// User matches the source identity's id exactly or its display name as
	// a case-insensitive substring.
	User  string
	Limit int
}

func (f RecordFilter) match(r entra.LogRecord) bool {
	switch {
	case f.ServicePrincipalID != "" && !strings.EqualFold(r.ServicePrincipalID, f.ServicePrincipalID):
		return false
	case f.Status != "" && r.Status != f.Status:
		return false
	case !f.Since.IsZero() && r.ActivityDateTime.Before(f.Since):
		return false
	case f.User != "" && !strings.EqualFold(r.SourceID, f.User) && !strings.Contains(strings.ToLower(r.SourceName), strings.ToLower(f.User)):
		return false
	}
	return true
}

// ReadObjects reads the records an ObjectSink stored, newest first.
func ReadObjects(ctx context.Context, objects Objects, f RecordFilter) ([]entra.LogRecord, error) {
	names, err := objects.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []entra.LogRecord
	for _, name := range names {
		if f.ServicePrincipalID != "" && !strings.Contains(name, "/"+strings.ToLower(f.ServicePrincipalID)+"/") {
			continue
		}
		body, err := objects.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			r, err := entra.DecodeLogRecord(sc.Bytes())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if f.match(r) {
				out = append(out, r)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ActivityDateTime.After(out[j].ActivityDateTime) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}
