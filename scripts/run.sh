#!/usr/bin/env bash
# The README's first command: set this machine up (packages, toolchain, build, models) and start
# the server on the embedded default (no MariaDB or Redis needed). Extra arguments go to
# `kyc serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec "${CARGO_TARGET_DIR:-target}/release/kyc" serve "$@"
