# berth: build, demo, test, bench. Run as root on Debian 12.
export PATH := /usr/local/go/bin:$(PATH)
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
DEB_PKGS := iputils-ping iptables runc busybox-static iproute2 bridge-utils nftables docker-compose curl wget util-linux
# docker.io gives the tests a Docker Engine to run berth beside (it is never started by default).
TEST_PKGS := docker.io

.PHONY: all build deps test-deps install-pkgs demo test unit e2e bench vet clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/berth ./cmd/berth
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)/berth-shim ./cmd/berth-shim

# deps installs what running and testing berth needs from Debian's packages.
deps:
	@$(MAKE) --no-print-directory install-pkgs PKGS="$(DEB_PKGS)"

test-deps:
	@$(MAKE) --no-print-directory install-pkgs PKGS="$(DEB_PKGS) $(TEST_PKGS)"

install-pkgs:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: deps build
	scripts/demo.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal test tools bench 2>/dev/null)" || (gofmt -l cmd internal test tools bench; echo "gofmt needed"; exit 1)

unit:
	$(GO) test -count=1 ./internal/... ./tools/... ./test/tools/...

e2e: build
	$(GO) test -count=1 -timeout 20m -p 2 ./test/e2e/... $(E2EFLAGS)

test: test-deps build vet unit e2e

bench: deps build
	bench/run.sh

clean:
	rm -rf $(BIN)
