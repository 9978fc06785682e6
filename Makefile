# ctsync — see README.md.
GO      ?= go
BIN     := bin/ctsync
PKGS    := ./...

.PHONY: all build run test check bench schemas clean

all: build

## build: compile the ctsync command to bin/ctsync
build:
	$(GO) build -o $(BIN) ./functions

## run: onboard a demo tenant pair against the built-in Graph emulator
run: build
	./$(BIN) demo

## check: go vet and gofmt must be clean
check:
	$(GO) vet $(PKGS)
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## test: vet, format check and every test (the emulator runs in-process; nothing leaves loopback)
test: check
	$(GO) test -count=1 -parallel 8 -timeout 30m $(PKGS)

## bench: Go benchmarks, then harvester vs plain pager at 10k, 100k and 1M records (BENCH_SIZES to change)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...
	$(GO) run ./pkg/harvest/harvestbench

## schemas: regenerate events/schema/*.json from the event specs
schemas:
	$(GO) test ./events -run TestSchemaFilesMatchSpecs -update

clean:
	rm -rf bin
