// Package tablestore is the store's KV on Azure Table Storage, for the
// Azure Functions host: one table, an entity per item, the entity's ETag as
// the item's version, so every write is a single-entity conditional
// operation (no batch transactions, which Table Storage limits to one
// partition anyway).
//
// Table Storage has no TTL; expired items are deleted by ctsync (the store's
// ForgetSeen), and an expired lease is simply overwritten.
package tablestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/ctsync/ctsync/pkg/store"
)

// KV implements store.KV on one table.
type KV struct {
	client *aztables.Client
}

var _ store.KV = (*KV)(nil)

// Open returns the KV on table, creating the table when it does not exist.
func Open(ctx context.Context, service *aztables.ServiceClient, table string) (*KV, error) {
	if _, err := service.CreateTable(ctx, table, nil); err != nil && !isCode(err, http.StatusConflict, "TableAlreadyExists") {
		return nil, fmt.Errorf("create table %s: %w", table, err)
	}
	return &KV{client: service.NewClient(table)}, nil
}

// Connect opens the table at a storage account's table endpoint
// (https://<account>.table.core.windows.net) with cred, or with a
// connection string when cred is nil.
func Connect(ctx context.Context, endpointOrConnectionString string, cred azcore.TokenCredential, table string) (*KV, error) {
	var service *aztables.ServiceClient
	var err error
	if cred == nil {
		service, err = aztables.NewServiceClientFromConnectionString(endpointOrConnectionString, nil)
	} else {
		service, err = aztables.NewServiceClient(endpointOrConnectionString, cred, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("table storage: %w", err)
	}
	return Open(ctx, service, table)
}

// Table Storage keeps a binary property to 64 KiB and an entity to 1 MiB:
// values are split across up to 15 properties.
const (
	chunk     = 60 << 10
	maxChunks = 15
)

func entity(it store.Item) ([]byte, error) {
	if len(it.Value) > chunk*maxChunks {
		return nil, fmt.Errorf("table storage: item %s/%s is %d bytes, more than an entity holds", it.PK, it.SK, len(it.Value))
	}
	props := map[string]any{}
	n := 0
	for start := 0; start < len(it.Value) || n == 0; start += chunk {
		props[fmt.Sprintf("v%02d", n)] = aztables.EDMBinary(it.Value[start:min(start+chunk, len(it.Value))])
		n++
	}
	props["n"] = int32(n)
	if !it.Expires.IsZero() {
		props["exp"] = aztables.EDMInt64(it.Expires.UnixMicro())
	}
	return json.Marshal(aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: escape(it.PK), RowKey: escape(it.SK)}, Properties: props})
}

func item(raw []byte, etag azcore.ETag) (store.Item, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(raw, &e); err != nil {
		return store.Item{}, fmt.Errorf("table storage: undecodable entity: %w", err)
	}
	if etag == "" {
		etag = azcore.ETag(e.ETag)
	}
	it := store.Item{PK: unescape(e.PartitionKey), SK: unescape(e.RowKey), Version: string(etag), Value: []byte{}}
	n, _ := e.Properties["n"].(int32)
	for i := range int(n) {
		part, _ := e.Properties[fmt.Sprintf("v%02d", i)].(aztables.EDMBinary)
		it.Value = append(it.Value, part...)
	}
	if exp, ok := e.Properties["exp"].(aztables.EDMInt64); ok && exp != 0 {
		it.Expires = time.UnixMicro(int64(exp)).UTC()
	}
	return it, nil
}

// Get implements store.KV.
func (kv *KV) Get(ctx context.Context, pk, sk string) (store.Item, error) {
	resp, err := kv.client.GetEntity(ctx, escape(pk), escape(sk), nil)
	if isCode(err, http.StatusNotFound, "") {
		return store.Item{}, store.ErrNotFound
	}
	if err != nil {
		return store.Item{}, err
	}
	return item(resp.Value, resp.ETag)
}

// GetMany implements store.KV with concurrent single reads.
func (kv *KV) GetMany(ctx context.Context, pk string, sks []string) (map[string]store.Item, error) {
	out := map[string]store.Item{}
	var mu sync.Mutex
	err := parallel(ctx, len(sks), func(i int) error {
		it, err := kv.Get(ctx, pk, sks[i])
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		mu.Lock()
		out[sks[i]] = it
		mu.Unlock()
		return nil
	})
	return out, err
}

// Query implements store.KV.
func (kv *KV) Query(ctx context.Context, pk, prefix string) ([]store.Item, error) {
	filter := "PartitionKey eq " + quote(escape(pk))
	if prefix != "" {
		lo := escape(prefix)
		// Escaping works character by character, so it keeps prefixes: the
		// escaped keys starting with lo are those from lo up to lo's last
		// character plus one.
		runes := []rune(lo)
		runes[len(runes)-1]++
		hi := string(runes)
		filter += " and RowKey ge " + quote(lo) + " and RowKey lt " + quote(hi)
	}
	pager := kv.client.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var out []store.Item
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, raw := range page.Entities {
			it, err := item(raw, "")
			if err != nil {
				return nil, err
			}
			out = append(out, it)
		}
	}
	return out, nil
}

// Put implements store.KV: add (fails on an existing entity), replace
// under If-Match (fails on another ETag), or upsert.
func (kv *KV) Put(ctx context.Context, it store.Item, cond store.Condition) (store.Item, error) {
	raw, err := entity(it)
	if err != nil {
		return store.Item{}, err
	}
	var etag azcore.ETag
	switch {
	case cond.IfAbsent:
		var resp aztables.AddEntityResponse
		resp, err = kv.client.AddEntity(ctx, raw, nil)
		etag = resp.ETag
	case cond.IfVersion != "":
		match := azcore.ETag(cond.IfVersion)
		var resp aztables.UpdateEntityResponse
		resp, err = kv.client.UpdateEntity(ctx, raw, &aztables.UpdateEntityOptions{IfMatch: &match, UpdateMode: aztables.UpdateModeReplace})
		etag = resp.ETag
	default:
		var resp aztables.UpsertEntityResponse
		resp, err = kv.client.UpsertEntity(ctx, raw, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
		etag = resp.ETag
	}
	if conflict(err) {
		return store.Item{}, store.ErrConflict
	}
	if err != nil {
		return store.Item{}, err
	}
	it.Version = string(etag)
	return it, nil
}

// PutMany implements store.KV with concurrent single upserts.
func (kv *KV) PutMany(ctx context.Context, items []store.Item) error {
	return parallel(ctx, len(items), func(i int) error {
		_, err := kv.Put(ctx, items[i], store.Condition{})
		return err
	})
}

// Delete implements store.KV.
func (kv *KV) Delete(ctx context.Context, pk, sk string, cond store.Condition) error {
	var opts *aztables.DeleteEntityOptions
	if cond.IfVersion != "" {
		match := azcore.ETag(cond.IfVersion)
		opts = &aztables.DeleteEntityOptions{IfMatch: &match}
	}
	_, err := kv.client.DeleteEntity(ctx, escape(pk), escape(sk), opts)
	switch {
	case isCode(err, http.StatusNotFound, "") && cond.IfVersion == "":
		return nil
	case conflict(err):
		return store.ErrConflict
	}
	return err
}

// conflict reports a failed condition: the entity exists (409), has
// another ETag (412), or is gone (404 on a conditional write).
func conflict(err error) bool {
	return isCode(err, http.StatusConflict, "") || isCode(err, http.StatusPreconditionFailed, "") || isCode(err, http.StatusNotFound, "")
}

func isCode(err error, status int, code string) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == status && (code == "" || re.ErrorCode == code)
}

// reserved are the characters Table Storage refuses in keys, and the escape
// character itself.
const reserved = "%/\\#?'"

// escape makes a key Table Storage accepts, reversibly.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(reserved, r) || r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			fmt.Fprintf(&b, "%%%02X", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if r, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteRune(rune(r))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// parallel runs fn for 0..n-1 with at most 16 at once, returning the first
// error.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
