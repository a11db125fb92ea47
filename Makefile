GO ?= go
CONFIG ?= etc/ssehub-dev.yaml

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

# Browser tests in headless Chromium (docs/browser.md); `make screenshot`
# rewrites docs/screenshot.png from the running page.
.PHONY: e2e screenshot
e2e:
	$(GO) test -race -count=1 -timeout 5m ./internal/e2e/...

screenshot:
	UPDATE_SCREENSHOT=1 $(GO) test -count=1 -run TestPageScreenshots ./internal/e2e/
