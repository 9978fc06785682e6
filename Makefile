# ctsync — see README.md.
GO      ?= go
BIN     := bin/ctsync
PKGS    := ./...
# `ctsync version` reports these; a build outside git says "dev".
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X main.buildVersion=$(VERSION) -X main.buildRevision=$(REVISION)

.PHONY: all build run test check fuzz bench schemas functions package-azure package-lambda build-Function clean

all: build

## build: compile the ctsync command to bin/ctsync, stamped with its version and revision
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./functions

## run: onboard a demo tenant pair against the built-in Graph emulator
run: build
	./$(BIN) demo

## check: go vet and gofmt must be clean
check:
	$(GO) vet $(PKGS)
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## test: vet, format check and every test under the race detector (the emulator runs in-process; nothing leaves loopback)
# The first run instruments the Graph SDK for the race detector once (about
# 3.5 minutes and 9 GiB on a 2-core machine); later runs take it from the cache.
test: check
	$(GO) test -race -count=1 -parallel 8 -timeout 30m $(PKGS)

## fuzz: run every Fuzz target for FUZZTIME each (seed corpora already run in make test); crashers stay in testdata/fuzz
FUZZTIME ?= 15s
fuzz:
	@set -e; for file in $$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go'); do \
	  for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
	    echo "fuzz $$target ($$(dirname $$file), $(FUZZTIME))"; \
	    $(GO) test ./$$(dirname $$file) -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) || \
	      { echo "$$target failed: the crasher is in $$(dirname $$file)/testdata/fuzz/$$target/; commit it as a regression case"; exit 1; }; \
	  done; \
	done

## bench: Go benchmarks, then the performance table (onboarding, serve at 10/100/1,000 pairs, fsyncs, harvester vs pager, Lambda start-up and zip); BENCH_ONLY, BENCH_SIZES, BENCH_PAIRS
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...
	$(GO) run ./pkg/perfbench

## schemas: regenerate events/schema/*.json from the event specs and pkg/desired/schema.json (the desired-state file)
schemas:
	$(GO) test ./events -run TestSchemaFilesMatchSpecs -update
	$(GO) test ./pkg/desired -run TestSchemaFileMatchesTheCode -update

clean:
	rm -rf bin dist

## functions: regenerate functions/*/function.json, infra/queues.json and infra/aws/template.json from the chain table
functions:
	$(GO) test ./pkg/host/azfunc -run 'TestBindingsMatchTheFilesUnderFunctions|TestInfraQueuesMatchTheChainTable' -update
	$(GO) test ./pkg/host/awslambda -run 'TestTheSAMTemplateMatchesTheChainTable' -update

## package-azure: the Azure Functions app folder, dist/azure (host.json, ctsync for linux/amd64, one folder per function)
package-azure:
	rm -rf dist/azure && mkdir -p dist/azure
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o dist/azure/ctsync ./functions
	cp host.json dist/azure/
	for f in functions/*/function.json; do d=dist/azure/$$(basename $$(dirname $$f)); mkdir -p $$d && cp $$f $$d/; done

## package-lambda: the AWS Lambda bootstrap for provided.al2023 on arm64, dist/lambda/bootstrap (stripped, without the Azure SDKs)
package-lambda:
	rm -rf dist/lambda && mkdir -p dist/lambda
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -ldflags "-s -w $(LDFLAGS)" -o dist/lambda/bootstrap ./functions

# build-Function is what `sam build` runs for infra/aws/template.json (BuildMethod: makefile).
build-Function:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -ldflags "-s -w $(LDFLAGS)" -o $(ARTIFACTS_DIR)/bootstrap ./functions
