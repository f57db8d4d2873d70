# HubPulse: `make demo` runs it, `make test` tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help up demo down status test fmt lint build logs

help:
	@echo "make demo    the whole stack with the GitHub simulator standing in for GitHub"
	@echo "make up      the whole stack against the real GitHub (REPLICAS=N make up for more replicas)"
	@echo "make down    stop everything the stack started"
	@echo "make status  what is running"
	@echo "make test    formatting, clippy and every test (installs what is missing)"

up:
	@scripts/stack.sh up

demo:
	@scripts/stack.sh up --demo

down:
	@scripts/stack.sh down

status:
	@scripts/stack.sh status

build:
	cargo build --release --workspace

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

logs:
	@tail -n 50 -F .stack/logs/*.log

test:
	@scripts/install-deps.sh
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo nextest run --workspace --profile ci
