GO ?= go
CONFIG ?= etc/ssehub-dev.yaml

.PHONY: build run test test-js vet bench fuzz clean image

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ssehub .

# The container image (Dockerfile): a static, stripped binary, the CA bundle
# and the default config staged in bin/image, then built by docker when its
# engine answers, else by podman (which needs no daemon). Podman's default OCI
# format would drop the HEALTHCHECK, hence --format docker.
IMAGE ?= ssehub
ENGINE ?= $(shell docker info >/dev/null 2>&1 && echo docker || echo podman)
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt

image:
	rm -rf bin/image
	mkdir -p bin/image
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/image/ssehub .
	install -m 0644 $(CA_BUNDLE) bin/image/ca-certificates.crt
	install -m 0644 etc/ssehub.yaml bin/image/ssehub.yaml
	$(ENGINE) build $(if $(filter podman,$(notdir $(ENGINE))),--format docker) -t $(IMAGE) -f Dockerfile bin/image

run:
	$(GO) run . -f $(CONFIG)

vet:
	$(GO) vet ./...

# Everything, under the race detector; CI runs exactly this.
test: vet test-js
	$(GO) test -race -count=1 -timeout 20m ./...

# The browser client's pure logic (static/ssehub.js) in Node's own test runner.
test-js:
	node --test static/

clean:
	rm -rf bin artifacts

# Browser tests in headless Chromium (docs/browser.md); `make screenshot`
# rewrites docs/screenshot.png from the running page.
.PHONY: e2e screenshot
e2e:
	$(GO) test -race -count=1 -timeout 5m ./internal/e2e/...

screenshot:
	UPDATE_SCREENSHOT=1 $(GO) test -count=1 -run TestPageScreenshots ./internal/e2e/

# Fuzzing: every target runs for FUZZTIME (per target). The seed corpora
# (f.Add and testdata/fuzz/) also run as ordinary tests in `make test`.
FUZZTIME ?= 60s
FUZZFLAGS ?=
FUZZ_TARGETS = \
	./internal/sse:FuzzAppendEvent \
	./internal/eventid:FuzzParse \
	./internal/topic:FuzzValid \
	./internal/handler:FuzzDecodePublish \
	./internal/auth:FuzzPatterns \
	./internal/auth:FuzzVerify \
	./internal/auth/credentials:FuzzRedact

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg; \
	done

# Redis mode's cost: publish->delivery latency and events/s through a local
# redis-server vs the in-memory log (5000 events per case), then the same
# end to end over HTTP (2000 publishes per case). See docs/redis.md.
.PHONY: bench-redis
bench-redis:
	$(GO) test -run '^$$' -bench 'PublishToDelivery|PublishThroughput' -benchtime 5000x -count 1 ./internal/eventlog/redislog/
	$(GO) test -run '^$$' -bench 'HTTPPublishToStream' -benchtime 2000x -count 1 ./internal/system/

# Chaos run (README "Checking the contract"): both modes, CHAOS_DURATION per
# mode, CHAOS_CLIENTS clients; a random seed, printed, unless CHAOS_SEED is set.
# The short run (about a minute) is TestChaosShort in `make test`.
CHAOS_DURATION ?= 10m
CHAOS_SEED ?= 0
CHAOS_CLIENTS ?= 100
CHAOS_MODE ?= both
.PHONY: chaos
chaos: build
	$(GO) build -o bin/ssechaos ./cmd/ssechaos
	bin/ssechaos -bin bin/ssehub -mode $(CHAOS_MODE) -duration $(CHAOS_DURATION) -seed $(CHAOS_SEED) -clients $(CHAOS_CLIENTS)

# Load benchmark (issue 7): fresh server per scenario, results in
# bench/results.{md,json}; then the encoder and hub micro-benchmarks.
bench:
	scripts/bench.sh
	$(GO) test -run '^$$' -bench . -benchmem ./internal/sse/ ./internal/hub/ ./internal/pool/
