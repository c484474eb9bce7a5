#!/usr/bin/env bash
# The README's second command (and CI's): the same set-up, MariaDB and Redis running, then every
# test of the workspace in one `cargo test` run (release mode, the build `run.sh` makes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"
cargo test --release --workspace
