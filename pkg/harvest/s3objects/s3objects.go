// Package s3objects keeps collected provisioning records in an Amazon S3
// bucket (harvest.Objects), for the AWS Lambda host.
package s3objects

import (
	"bytes"
	"context"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ctsync/ctsync/pkg/harvest"
)

// Bucket is one bucket, under a key prefix.
type Bucket struct {
	client *s3.Client
	name   string
	prefix string
}

var _ harvest.Objects = (*Bucket)(nil)

// New uses bucket name under prefix (e.g. "provisioning/").
func New(client *s3.Client, name, prefix string) *Bucket {
	return &Bucket{client: client, name: name, prefix: prefix}
}

// Put implements harvest.Objects.
func (b *Bucket) Put(ctx context.Context, name string, body []byte) error {
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b.name, Key: aws.String(b.prefix + name), Body: bytes.NewReader(body),
		ContentType: aws.String("application/x-ndjson")})
	return err
}

// List implements harvest.Objects.
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.name, Prefix: aws.String(b.prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			names = append(names, (*o.Key)[len(b.prefix):])
		}
	}
	return names, nil
}

// Get implements harvest.Objects.
func (b *Bucket) Get(ctx context.Context, name string) ([]byte, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.name, Key: aws.String(b.prefix + name)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}
