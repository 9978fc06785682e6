// Package dynamostore is the store's KV on Amazon DynamoDB, for the AWS
// Lambda host: one table keyed pk (partition) and sk (sort), on-demand
// capacity; every write is one UpdateItem with a condition expression on the
// item's version counter, so no write ever needs a transaction.
//
// The item's expiry is kept to the microsecond for ctsync's own checks; the
// table's TTL attribute (ttl, epoch seconds) is set a month after it, as
// cleanup only: DynamoDB deletes expired items lazily, and ctsync never
// relies on it.
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ctsync/ctsync/pkg/store"
)

// TTLAttribute is the table's time-to-live attribute.
const TTLAttribute = "ttl"

// cleanupAfter is how long after an item's expiry DynamoDB may delete it.
const cleanupAfter = 31 * 24 * time.Hour

// KV implements store.KV on one table.
type KV struct {
	db    *dynamodb.Client
	table string
}

var _ store.KV = (*KV)(nil)

// New returns the KV on table.
func New(db *dynamodb.Client, table string) *KV { return &KV{db: db, table: table} }

// CreateTable creates the table (pk, sk; on-demand) with its TTL, as the SAM
// template does; an existing table is left as it is.
func CreateTable(ctx context.Context, db *dynamodb.Client, table string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   &table,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
	})
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &table}, time.Minute); err != nil {
		return err
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: &table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(TTLAttribute), Enabled: aws.Bool(true)}})
	return err
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}
}

func item(av map[string]types.AttributeValue) store.Item {
	it := store.Item{Value: []byte{}}
	if v, ok := av["pk"].(*types.AttributeValueMemberS); ok {
		it.PK = v.Value
	}
	if v, ok := av["sk"].(*types.AttributeValueMemberS); ok {
		it.SK = v.Value
	}
	if v, ok := av["val"].(*types.AttributeValueMemberB); ok {
		it.Value = v.Value
	}
	if v, ok := av["v"].(*types.AttributeValueMemberN); ok {
		it.Version = v.Value
	}
	if v, ok := av["expus"].(*types.AttributeValueMemberN); ok {
		if us, err := strconv.ParseInt(v.Value, 10, 64); err == nil && us != 0 {
			it.Expires = time.UnixMicro(us).UTC()
		}
	}
	return it
}

// Get implements store.KV with a strongly consistent read.
func (kv *KV) Get(ctx context.Context, pk, sk string) (store.Item, error) {
	out, err := kv.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &kv.table, Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return store.Item{}, err
	}
	if out.Item == nil {
		return store.Item{}, store.ErrNotFound
	}
	return item(out.Item), nil
}

// GetMany implements store.KV with BatchGetItem, 100 keys at a time.
func (kv *KV) GetMany(ctx context.Context, pk string, sks []string) (map[string]store.Item, error) {
	out := map[string]store.Item{}
	for start := 0; start < len(sks); start += 100 {
		var keys []map[string]types.AttributeValue
		seen := map[string]bool{}
		for _, sk := range sks[start:min(start+100, len(sks))] {
			if !seen[sk] { // BatchGetItem refuses duplicate keys
				seen[sk] = true
				keys = append(keys, key(pk, sk))
			}
		}
		request := map[string]types.KeysAndAttributes{kv.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for len(request) > 0 {
			resp, err := kv.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
			if err != nil {
				return nil, err
			}
			for _, av := range resp.Responses[kv.table] {
				it := item(av)
				out[it.SK] = it
			}
			request = resp.UnprocessedKeys
		}
	}
	return out, nil
}

// Query implements store.KV.
func (kv *KV) Query(ctx context.Context, pk, prefix string) ([]store.Item, error) {
	in := &dynamodb.QueryInput{TableName: &kv.table, ConsistentRead: aws.Bool(true), KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}}}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :p)")
		in.ExpressionAttributeValues[":p"] = &types.AttributeValueMemberS{Value: prefix}
	}
	var out []store.Item
	for p := dynamodb.NewQueryPaginator(kv.db, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, av := range page.Items {
			out = append(out, item(av))
		}
	}
	return out, nil
}

// Put implements store.KV: one UpdateItem that sets the value, adds one to
// the version counter and, for a condition, checks it first.
func (kv *KV) Put(ctx context.Context, it store.Item, cond store.Condition) (store.Item, error) {
	in := &dynamodb.UpdateItemInput{TableName: &kv.table, Key: key(it.PK, it.SK), ReturnValues: types.ReturnValueUpdatedNew,
		ExpressionAttributeNames: map[string]string{"#ttl": TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":val": &types.AttributeValueMemberB{Value: it.Value}, ":one": &types.AttributeValueMemberN{Value: "1"}},
	}
	if it.Expires.IsZero() {
		in.UpdateExpression = aws.String("SET val = :val ADD v :one REMOVE expus, #ttl")
	} else {
		in.UpdateExpression = aws.String("SET val = :val, expus = :expus, #ttl = :ttl ADD v :one")
		in.ExpressionAttributeValues[":expus"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(it.Expires.UnixMicro(), 10)}
		in.ExpressionAttributeValues[":ttl"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(it.Expires.Add(cleanupAfter).Unix(), 10)}
	}
	switch {
	case cond.IfAbsent:
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	case cond.IfVersion != "":
		in.ConditionExpression = aws.String("v = :v")
		in.ExpressionAttributeValues[":v"] = &types.AttributeValueMemberN{Value: cond.IfVersion}
	}
	out, err := kv.db.UpdateItem(ctx, in)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return store.Item{}, store.ErrConflict
	}
	if err != nil {
		return store.Item{}, err
	}
	if v, ok := out.Attributes["v"].(*types.AttributeValueMemberN); ok {
		it.Version = v.Value
	}
	return it, nil
}

// PutMany implements store.KV with concurrent single writes.
func (kv *KV) PutMany(ctx context.Context, items []store.Item) error {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := kv.Put(ctx, it, store.Condition{}); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// Delete implements store.KV.
func (kv *KV) Delete(ctx context.Context, pk, sk string, cond store.Condition) error {
	in := &dynamodb.DeleteItemInput{TableName: &kv.table, Key: key(pk, sk)}
	if cond.IfVersion != "" {
		in.ConditionExpression = aws.String("v = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: cond.IfVersion}}
	}
	_, err := kv.db.DeleteItem(ctx, in)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return store.ErrConflict
	}
	return err
}
