GO ?= go
CONFIG ?= etc/ssehub.yaml

.PHONY: build run test vet bench fuzz clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ssehub .

run:
	$(GO) run . -f $(CONFIG)

vet:
	$(GO) vet ./...

# Everything, under the race detector; CI runs exactly this.
test: vet
	$(GO) test -race -count=1 -timeout 20m ./...

clean:
	rm -rf bin artifacts

# Redis mode's cost: publish->delivery latency and events/s through a local
# redis-server vs the in-memory log, bounded to 5000 events per case.
.PHONY: bench-redis
bench-redis:
	$(GO) test -run '^$$' -bench 'PublishToDelivery|PublishThroughput' -benchtime 5000x -count 1 ./internal/eventlog/
