# HubPulse: `make demo` runs it, `make test` tests it. The stack targets are
# in scripts/stack.sh; settings come from .env, and the caller's environment
# wins (REPLICAS=3 make up).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# nextest's ci profile (full failure output, JUnit) when CI is set.
NEXTEST_PROFILE := $(if $(CI),ci,default)

.PHONY: help up demo down status logs build fmt lint test

help:
	@echo "make demo    the whole stack, with the GitHub simulator standing in for GitHub"
	@echo "make up      the whole stack against api.github.com (REPLICAS=N make up for N replicas)"
	@echo "make down    stop everything the stack started"
	@echo "make status  what is running"
	@echo "make logs    follow the stack's logs"
	@echo "make test    formatting, clippy and every test (installs what is missing first)"
	@echo "make build   release binaries, as the stack builds them"
	@echo "make faults  the fault suite: kills and stops members of a stack of its own under load (minutes)"
	@echo "make bench   the speed proof on a stack of its own: load tests, static-file limit, ingest (minutes)"
	@echo "make callgrind  instructions per cached request of one replica, under valgrind (a minute)"
	@echo "make fmt     format the code;  make lint  clippy with warnings as errors"

up:
	@scripts/stack.sh up

demo:
	@scripts/stack.sh up --demo

down:
	@scripts/stack.sh down

status:
	@scripts/stack.sh status

logs:
	@tail -n 20 -F .stack/logs/*.log .stack/nginx/access.log .stack/nginx/error.log

# Always the whole workspace: one feature set for every shared dependency.
build:
	cargo build --release --workspace

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

test:
	@scripts/install-deps.sh
	@scripts/install-schemathesis.sh >/dev/null
	@scripts/install-kubernetes-validate.sh >/dev/null
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo nextest run --workspace --profile $(NEXTEST_PROFILE)

# The fault suite on a demo stack of its own (.stack-faults, ports 8280,
# 55632, 56579, 3201-3202, 9300), stopped at the end; scripts/faults.sh CASE...
# runs some cases, FAULTS_BREAK=nginx-retry shows a broken property failing.
.PHONY: faults
faults:
	@scripts/faults.sh

# The speed proof on a demo stack of its own (.stack-bench, ports 8180,
# 55532, 56479, 3101-3102, 9200, static limit on 8181, the proxy's ceiling
# on 8182), stopped at the end:
# prints one table, writes target/bench/report.md and .json, exits non-zero
# on a missed target. Not part of make test (that runs a short smoke).
.PHONY: bench
bench:
	@scripts/bench.sh

# Instructions per cached request of one release replica under callgrind,
# on a demo stack of its own (.stack-callgrind, ports 8380, 55732, 56679,
# 3301, 9400), stopped at the end: target/callgrind/summary.txt.
.PHONY: callgrind
callgrind:
	@scripts/callgrind.sh
