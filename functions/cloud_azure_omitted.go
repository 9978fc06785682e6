//go:build lambda.norpc

package main

import (
	"context"
	"errors"

	"github.com/ctsync/ctsync/pkg/bus"
)

// errAzureOmitted answers the Azure commands in the Lambda bootstrap, which
// is built without the Azure SDKs to keep its deployment zip small.
var errAzureOmitted = errors.New("this build is the AWS Lambda bootstrap (-tags lambda.norpc), built without the Azure SDKs: " +
	"use the full ctsync binary (make build) for Azure Functions and CTSYNC_STORE=tables")

func (e *environment) openAzureState(context.Context, func(name, def string) string) (*sharedState, error) {
	return nil, errAzureOmitted
}

func runFunctionsHost(context.Context, *environment, []string) error { return errAzureOmitted }

func (e *environment) serviceBusPublisher() (bus.Publisher, func(), string, error) {
	return nil, nil, "", errAzureOmitted
}
