# Developer entry points. `make test` is what CI runs.

GO ?= go
FUZZTIME ?= 10s

.PHONY: test deps vet unit fuzz bench bench-report chaos chaos-full generate quickstart

## test: install missing test dependencies, vet, every test with the race detector, each fuzz target briefly, the kill -9 harness
test: deps vet unit fuzz chaos

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

## chaos: kill -9 the sink, the source (3 times each) and the broker while 20k records flow; fails on any loss
chaos:
	$(GO) run ./cmd/danube-connect chaos --records 20000 --kills 3 --broker-kills 1

## chaos-full: the same at full scale: 100k records, 10 kills of the sink and of the source, 2 of the broker
chaos-full:
	$(GO) run ./cmd/danube-connect chaos --records 100000 --kills 10 --broker-kills 2 --duration 120s

## bench-report: the full bench matrix; writes docs/benchmarks/latest.json and latest.svg
bench-report:
	$(GO) run ./cmd/danube-connect bench --full --json docs/benchmarks/latest.json --svg docs/benchmarks/latest.svg

## bench: run the benchmarks (numbers are reported as ratios against in-run baselines)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## generate: regenerate protobuf code (needs protoc, protoc-gen-go, protoc-gen-go-grpc)
generate:
	$(GO) generate ./internal/wire

## quickstart: the quickstart: an embedded broker, a generator and a file sink (out/quickstart/records.jsonl); exits by itself
quickstart:
	$(GO) run ./cmd/danube-connect run --devbroker -c examples/quickstart/generator.toml -c examples/quickstart/file-sink.toml
