#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian/Ubuntu machine with Rust installed: installs
# PostgreSQL, redis-server and nginx if missing, starts a throw-away PostgreSQL cluster (fsync off)
# a throw-away Redis and a throw-away S3 server (moto) on free ports, runs every test against them
# (each test gets its own database cloned from a migrated template, its own Redis key prefix and,
# where it uses S3, its own bucket; the cluster tests start their own nginx, and a redis-server of
# their own where they kill it), and removes them afterwards. Formatting and clippy's lints are checked first. Arguments go to the test runner,
# e.g. `scripts/test.sh auth::`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PLAUDER_ROOT"

# The commit this build reports in plauder_build_info (the metrics tests check it).
PLAUDER_GIT_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || true)"
export PLAUDER_GIT_COMMIT

# Two migrations with one version (parallel branches picking the same timestamp) would make the
# order they run in depend on their names, and diesel records only the version: refuse it here.
dup_versions="$(ls migrations | sed -n 's/^\([0-9-]*\)_.*/\1/p' | tr -d - | sort | uniq -d)"
if [ -n "$dup_versions" ]; then
    echo "migrations share a version: $dup_versions" >&2
    exit 1
fi

# Formatting and lints first: they fail in seconds, before any server is started.
log "checking formatting (cargo fmt --check) and lints (cargo clippy -D warnings)"
cargo fmt --check
cargo clippy --quiet --all-targets --features load -- -D warnings
# Docker and Kubernetes cannot run here: their files are checked against schemas instead, and the
# Prometheus alert rules with promtool (from Debian's prometheus package).
log "checking the deployment files (scripts/check-deploy.sh)"
(ensure_packages prometheus) || log "prometheus (promtool) could not be installed: alert rules get the structural check only"
deploy_status=0
scripts/check-deploy.sh || deploy_status=$?
case "$deploy_status" in
    0) ;;
    3) log "kubernetes-validate could not be installed: the deployment files were not schema-checked" ;;
    *) exit 1 ;;
esac

# The client package's hand-written TypeScript declarations against its usage examples.
log "checking the client package's types (scripts/check-client.sh)"
scripts/check-client.sh

ensure_postgres
# iproute2: `ss`, which the listen-backlog test reads the listeners' queue length from.
ensure_packages redis-server nginx iproute2
# The browser tests (tests/api/browser) drive headless Chromium through chromedriver. They must
# run wherever the packages can be installed; only a machine that cannot install them skips them.
# The emoji font is for the screenshots the tests save (reactions, icons).
if (ensure_packages chromium chromium-driver fonts-noto-color-emoji); then
    export PLAUDER_REQUIRE_BROWSER=1
else
    log "chromium/chromium-driver could not be installed: the browser tests will be skipped"
fi
pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/plauder-test-pg.XXXXXX")"
chmod 755 "$pg_dir"
cleanup() { s3_stop "$pg_dir/s3"; redis_stop "$pg_dir/redis"; pg_stop "$pg_dir"; rm -rf "$pg_dir"; }
trap cleanup EXIT
redis_port="$(free_port 26379)"
log "starting a throw-away Redis on 127.0.0.1:$redis_port"
redis_start "$pg_dir/redis" "$redis_port"
export PLAUDER_TEST_REDIS_URL="redis://127.0.0.1:${redis_port}"
# The cluster tests start nginx and redis-server themselves; Debian keeps nginx in /usr/sbin.
export PATH="$PATH:/usr/sbin:/usr/bin"

# A throw-away CA, and certificates from it for PostgreSQL here and the TLS tests' redis-server.
tls_dir="$pg_dir/tls"
log "making test certificates in $tls_dir (openssl)"
test_certs "$tls_dir"
export PLAUDER_TEST_TLS_DIR="$tls_dir"

pg_port="$(free_port 25432)"
log "starting a throw-away PostgreSQL on 127.0.0.1:$pg_port (TLS offered, not required)"
pg_start "$pg_dir" "$pg_port" --auth=trust
# PostgreSQL wants its key private to the user it runs as.
if [ "$(id -u)" -eq 0 ]; then
    install -o postgres -g postgres -m 600 "$tls_dir/server.key" "$pg_dir/server.key"
else
    install -m 600 "$tls_dir/server.key" "$pg_dir/server.key"
fi
cat <<CONF | as_pg_owner tee "$pg_dir/extra.conf" >/dev/null
# Durability buys nothing for throw-away test data and costs most of the I/O.
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 400
ssl = on
ssl_cert_file = '$tls_dir/server.crt'
ssl_key_file = '$pg_dir/server.key'
CONF
as_pg_owner "$PG_BIN/pg_ctl" -D "$pg_dir/data" -w restart -o "-p $pg_port" -l "$pg_dir/log" >/dev/null

# The load generator is behind a feature so the server build does not carry its client libraries;
# make sure it still compiles (before the tests, so the test runner's summary closes the output).
log "building the load tool (plauder-load)"
cargo build --quiet --features load --bin plauder-load

# axe-core for the browser tests' accessibility checks (tests/api/browser/axe.rs), pinned in
# tests/axe/package-lock.json and installed with npm ci into tests/axe/node_modules the first time.
axe_dir="$PLAUDER_ROOT/tests/axe"
# node and npm read the pin and install it: Debian's packages where a machine lacks them.
{ command -v node && command -v npm; } >/dev/null || ensure_packages nodejs npm
axe_pinned="$(node -p "require('$axe_dir/package-lock.json').packages['node_modules/axe-core'].version")"
axe_installed="$(node -p "try { require('$axe_dir/node_modules/axe-core/package.json').version } catch { '' }")"
if [ "$axe_installed" != "$axe_pinned" ]; then
    log "installing axe-core $axe_pinned for the accessibility checks (npm ci)"
    (cd "$axe_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
export PLAUDER_TEST_AXE="$axe_dir/node_modules/axe-core/axe.min.js"

# The trace test's OTLP receiver (tests/otlp_receiver.py) decodes with the official
# opentelemetry-proto package, kept in a cached virtualenv.
otlp_venv="${XDG_CACHE_HOME:-$HOME/.cache}/plauder/otlp-venv"
if [ ! -x "$otlp_venv/bin/python" ] || ! "$otlp_venv/bin/python" -c 'import opentelemetry.proto' 2>/dev/null; then
    log "installing opentelemetry-proto into $otlp_venv (pip)"
    ensure_packages python3-venv
    python3 -m venv "$otlp_venv"
    "$otlp_venv/bin/pip" install --quiet 'opentelemetry-proto==1.45.2'
fi
export PLAUDER_TEST_OTLP_PYTHON="$otlp_venv/bin/python"

# The mail tests' SMTP server (tests/smtp_server.py) is aiosmtpd from PyPI, with dkimpy checking
# the mails' DKIM signatures, in a cached virtualenv.
if smtp_venv="$(ensure_venv smtp 'aiosmtpd==1.4.6' 'dkimpy==1.1.8')"; then
    export PLAUDER_TEST_SMTP_PYTHON="$smtp_venv/bin/python"
else
    die "aiosmtpd and dkimpy could not be installed (python3-venv and PyPI are needed for the mail tests)"
fi

# The S3 attachment store's tests run against moto in server mode (from PyPI, in a cached
# virtualenv): a real S3 endpoint on a free port, its buckets in memory. Each test makes its own.
if s3_venv="$(ensure_venv s3 'moto[server,s3]==5.2.5')"; then
    s3_port="$(free_port 29000)"
    log "starting a throw-away S3 server (moto) on 127.0.0.1:$s3_port"
    s3_start "$pg_dir/s3" "$s3_venv" "$s3_port"
    export PLAUDER_TEST_S3_URL="http://127.0.0.1:${s3_port}"
else
    die "moto could not be installed (python3-venv and PyPI are needed for the S3 attachment tests)"
fi

export PLAUDER_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:${pg_port}"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast "$@"
else
    log "cargo-nextest not found; using cargo test"
    # One thread: some tests read process-wide metrics (query counts) that parallel tests would skew.
    cargo test --no-fail-fast "$@" -- --test-threads=1
fi
