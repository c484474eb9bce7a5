# The README's two commands, on a fresh Debian 12 machine (as root, or with sudo):
#   make run    install what is missing, build, fetch the models, start the server
#   make test   the same set-up plus MariaDB and Redis, then the whole test suite (release mode)
# Both are idempotent: the second time they only check, rebuild what changed and go on.

# rustup installs cargo here; a fresh shell may not have it on PATH yet.
export PATH := $(HOME)/.cargo/bin:$(PATH)

KYC := $(or $(CARGO_TARGET_DIR),target)/release/kyc

.PHONY: run test setup

run: setup
	$(KYC) serve

test:
	scripts/setup.sh --test
	cargo test --release --workspace

setup:
	scripts/setup.sh
