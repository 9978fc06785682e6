// Package blobobjects keeps collected provisioning records in an Azure Blob
// Storage container (harvest.Objects), for the Azure Functions host.
package blobobjects

import (
	"context"
	"fmt"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/ctsync/ctsync/pkg/harvest"
)

// Container is one blob container.
type Container struct {
	client *azblob.Client
	name   string
}

var _ harvest.Objects = (*Container)(nil)

// Connect opens the container at a storage account's blob endpoint
// (https://<account>.blob.core.windows.net) with cred, or with a connection
// string when cred is nil, creating the container when it does not exist.
func Connect(ctx context.Context, endpointOrConnectionString string, cred azcore.TokenCredential, container string) (*Container, error) {
	var client *azblob.Client
	var err error
	if cred == nil {
		client, err = azblob.NewClientFromConnectionString(endpointOrConnectionString, nil)
	} else {
		client, err = azblob.NewClient(endpointOrConnectionString, cred, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("blob storage: %w", err)
	}
	if _, err := client.CreateContainer(ctx, container, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return nil, fmt.Errorf("create container %s: %w", container, err)
	}
	return &Container{client: client, name: container}, nil
}

// Put implements harvest.Objects.
func (c *Container) Put(ctx context.Context, name string, body []byte) error {
	_, err := c.client.UploadBuffer(ctx, c.name, name, body, nil)
	return err
}

// List implements harvest.Objects.
func (c *Container) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	opts := &azblob.ListBlobsFlatOptions{}
	if prefix != "" {
		opts.Prefix = &prefix
	}
	for pager := c.client.NewListBlobsFlatPager(c.name, opts); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name != nil {
				names = append(names, *b.Name)
			}
		}
	}
	return names, nil
}

// Get implements harvest.Objects.
func (c *Container) Get(ctx context.Context, name string) ([]byte, error) {
	resp, err := c.client.DownloadStream(ctx, c.name, name, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
