# Developer entry points. `make test` is what CI runs.

GO ?= go
FUZZTIME ?= 10s

.PHONY: test deps vet unit fuzz bench generate quickstart

## test: install missing test dependencies, vet, every test with the race detector, then each fuzz target briefly
test: deps vet unit fuzz

## deps: install what the tests need and is missing (make, Mosquitto, PostgreSQL, a Python venv with deltalake)
deps:
	./scripts/install-test-deps

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

## fuzz: run every Fuzz* target for FUZZTIME each (seed corpora also run in `unit`)
fuzz:
	./scripts/fuzz-all $(FUZZTIME)

## bench: run the benchmarks (numbers are reported as ratios against in-run baselines)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## generate: regenerate protobuf code (needs protoc, protoc-gen-go, protoc-gen-go-grpc)
generate:
	$(GO) generate ./internal/wire
