# backupwatch: the project's menu. `make help` lists every target.
SHELL := /bin/bash
GO ?= go
FUNCTIONS := backups restores alerts admin console healthcheck verify migrate
# SAM logical ids of the functions (template.yaml), for `sam build`.
LOGICAL_IDS := BackupsFunction RestoresFunction AlertsFunction AdminFunction ConsoleFunction HealthcheckFunction VerifyFunction MigrateFunction
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w -buildid='
TEST_FLAGS ?=
FUZZTIME ?= 30s
BENCH_FLAGS ?=

.DEFAULT_GOAL := help
.PHONY: help run cli test build lint bench bench-scale detection fuzz soak clean deps tidy migrate-remote screenshots $(addprefix build-,$(LOGICAL_IDS))

help: ## list the targets
	@grep -hE '^[a-zA-Z_%-]+:.*?## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-22s %s\n", $$1, $$2}'

deps: ## install what a fresh Debian machine lacks (the PostgreSQL server, Chromium for the console's browser tests)
	@scripts/ensure-postgres.sh
	@scripts/ensure-chromium.sh

screenshots: deps ## the console's pages, light and dark, desktop and phone width, as PNGs into docs/console/
	BACKUPWATCH_SCREENSHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -run '^TestScreenshots$$' ./shared/console

run: deps cli ## serve the API locally on 127.0.0.1:3000 with its own PostgreSQL (.local/pg)
	./bin/backupwatch serve

cli: ## build the one static backupwatch binary (serve, the job wrapper, ...) into bin/backupwatch: copy it to backup hosts
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/backupwatch ./cmd/backupwatch

# The race detector needs cgo; a machine without a C compiler runs without it.
RACE := $(shell command -v gcc >/dev/null 2>&1 && echo -race)

test: deps ## run the whole test suite (starts PostgreSQL, goaws, versitygw and the Lambda emulator itself)
	$(GO) test -count=1 -timeout 20m $(RACE) $(TEST_FLAGS) ./...

build: ## build every function's bootstrap for arm64 and amd64 into bin/<function>/<arch>/
	@for f in $(FUNCTIONS); do for a in arm64 amd64; do \
	  echo "build $$f/$$a"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build $(LAMBDA_FLAGS) -o bin/$$f/$$a/bootstrap ./functions/$$f || exit 1; \
	done; done

# SAM's makefile builder calls build-<LogicalId> with ARTIFACTS_DIR set; each
# builds the arm64 bootstrap of its function (make build builds them all).
LAMBDA_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap
build-BackupsFunction: ## SAM: the backups function's bootstrap into $(ARTIFACTS_DIR)
	$(LAMBDA_BUILD) ./functions/backups
build-RestoresFunction: ## SAM: the restores function's bootstrap into $(ARTIFACTS_DIR)
	$(LAMBDA_BUILD) ./functions/restores
build-AlertsFunction: ## SAM: the alerts function's bootstrap into $(ARTIFACTS_DIR)
	$(LAMBDA_BUILD) ./functions/alerts
build-AdminFunction: ## SAM: the admin function's bootstrap into $(ARTIFACTS_DIR)
	$(LAMBDA_BUILD) ./functions/admin
build-ConsoleFunction: ## SAM: the console function's bootstrap into $(ARTIFACTS_DIR)
	$(LAMBDA_BUILD) ./functions/console
build-HealthcheckFunction: ## SAM: the healthcheck function's bootstrap into $(ARTIFACTS_DIR)
	$(LAMBDA_BUILD) ./functions/healthcheck
build-VerifyFunction: ## SAM: the verify function's bootstrap into $(ARTIFACTS_DIR)
	$(LAMBDA_BUILD) ./functions/verify
build-MigrateFunction: ## SAM: the migrate function's bootstrap into $(ARTIFACTS_DIR)
	$(LAMBDA_BUILD) ./functions/migrate

lint: ## gofmt, go vet and staticcheck (pinned in go.mod)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

bench: deps ## benchmarks on a generated 1M-backup history vs baselines (~4 min), and the job wrapper; writes bench/REPORT.md
	$(GO) run ./bench/cmd/bwbench $(BENCH_FLAGS)

detection: deps ## the size rule on 240 generated tenant histories through the real check run (~1 min); writes bench/DETECTION.md
	$(GO) run ./bench/cmd/bwdetect

SCALE_FLAGS ?=
bench-scale: deps ## the service at 1M and 10M backups side by side, with growth ratios (~1 h 15 min, ~20 GB of disk in $$TMPDIR; SCALE_FLAGS='-data DIR' keeps the histories for the next run); writes bench/SCALE.md
	$(GO) run ./bench/cmd/bwscale $(SCALE_FLAGS)

fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@for p in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    echo "fuzz $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
	  done; done

tidy: ## go mod tidy
	$(GO) mod tidy

clean: ## remove build output (keeps .local/pg, the local database)
	rm -rf bin .aws-sam

STACK ?= backupwatch
# The invocation waits as long as the migration runs (--cli-read-timeout 0:
# the CLI's default 60 s would re-invoke a slow one), then prints the
# function's answer ({"applied": [...]}) or its error, and fails with it.
migrate-remote: ## apply migrations in AWS: invoke the deployed MigrateFunction of STACK (default backupwatch), wait, print its result
	@fn=$$(aws cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs[?OutputKey=='MigrateFunctionName'].OutputValue" --output text) && \
	out=$$(mktemp) && trap 'rm -f "$$out"' EXIT && \
	err=$$(aws lambda invoke --function-name "$$fn" --cli-binary-format raw-in-base64-out --cli-read-timeout 0 \
	  --payload file://infra/events/migrate.json --query FunctionError --output text "$$out") && \
	cat "$$out" && echo && \
	if [ "$$err" != "None" ]; then echo "migrate failed ($$err)" >&2; exit 1; fi

SOAK_DURATION ?= 10m
soak: deps ## 10 minutes of mixed traffic against serve, PostgreSQL restarted midway (SOAK_DURATION=10m)
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -tags soak -run '^TestSoak$$' -count=1 -v -timeout 30m ./cmd/backupwatch
