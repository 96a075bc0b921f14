#!/usr/bin/env bash
# Runs plauder on http://127.0.0.1:8080 on a fresh Debian/Ubuntu machine with Rust installed:
# installs PostgreSQL if missing, starts a private cluster (kept in the data directory across
# runs), builds the release binary, migrates, creates an admin account on the first start (its
# password is printed and kept in the data directory) and serves. Ctrl-C stops the server.
#
#   scripts/run.sh                     serve
#   scripts/run.sh user create --username admin --email admin@example.org --role admin
#                                      any other plauder command, with the same database
#
# Data lives in $PLAUDER_DATA_DIR (default /var/lib/plauder as root, ~/.local/share/plauder
# otherwise); PostgreSQL listens on 127.0.0.1:$PLAUDER_PG_PORT (default 25329).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PLAUDER_ROOT"

if [ "$(id -u)" -eq 0 ]; then default_data=/var/lib/plauder; else default_data="$HOME/.local/share/plauder"; fi
data="${PLAUDER_DATA_DIR:-$default_data}"
pg_port="${PLAUDER_PG_PORT:-25329}"
mkdir -p "$data"
chmod 700 "$data"
[ "$(id -u)" -eq 0 ] && chmod 711 "$data"   # postgres must reach its cluster directory inside

# Secrets are made once and kept, so sessions and accounts survive restarts.
[ -f "$data/pg-password" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$data/pg-password")
[ -f "$data/jwt-secret" ] || (umask 077; head -c 48 /dev/urandom | base64 | tr -d '\n' > "$data/jwt-secret")
pg_password="$(cat "$data/pg-password")"

ensure_packages ca-certificates
ensure_postgres
if [ ! -f "$data/pg/data/PG_VERSION" ] && [ "$(id -u)" -eq 0 ]; then
    install -d -o postgres -g postgres "$data/pg"
fi
if ! (exec 3<>"/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null; then
    log "starting PostgreSQL on 127.0.0.1:$pg_port (data: $data/pg)"
    # initdb reads the password from a file; it is removed as soon as the cluster exists.
    pwfile="$(mktemp)"; printf '%s\n' "$pg_password" > "$pwfile"; chmod 644 "$pwfile"
    pg_start "$data/pg" "$pg_port" --auth-local=peer --auth-host=scram-sha-256 --pwfile="$pwfile"
    rm -f "$pwfile"
elif [ ! -f "$data/pg/data/postmaster.pid" ]; then
    die "port $pg_port is taken by another program; set PLAUDER_PG_PORT"
fi
export DATABASE_URL="postgres://postgres:${pg_password}@127.0.0.1:${pg_port}/plauder"
PGPASSWORD="$pg_password" "$PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAq \
    -c "SELECT 1 FROM pg_database WHERE datname = 'plauder'" | grep -q 1 \
    || PGPASSWORD="$pg_password" "$PG_BIN/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres plauder

log "building plauder (release)"
# The commit is reported in /metrics (plauder_build_info); none outside a git checkout.
PLAUDER_GIT_COMMIT="$(git -C "$PLAUDER_ROOT" rev-parse --short HEAD 2>/dev/null || true)" \
    cargo build --release --quiet --bin plauder

export PLAUDER__AUTH__JWT_SECRET="$(cat "$data/jwt-secret")"
export PLAUDER__ATTACHMENTS__DIRECTORY="${PLAUDER__ATTACHMENTS__DIRECTORY:-$data/attachments}"
if [ $# -gt 0 ]; then
    exec target/release/plauder "$@"
fi

# The first start bootstraps an admin for /admin, with a generated password kept beside the data.
if [ ! -f "$data/admin-password" ]; then
    target/release/plauder migrate >/dev/null
    admin_password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')"
    if PLAUDER_USER_PASSWORD="$admin_password" target/release/plauder user create \
        --username admin --email admin@plauder.local --role admin >/dev/null; then
        (umask 077; printf '%s\n' "$admin_password" > "$data/admin-password")
    else
        log "could not create the admin account (does a user 'admin' exist already?)"
    fi
fi
admin_line="Admin panel: http://127.0.0.1:8080/admin (create an admin with: scripts/run.sh user create --role admin ...)"
if [ -f "$data/admin-password" ]; then
    admin_line="Admin panel: http://127.0.0.1:8080/admin  user: admin  password: $(cat "$data/admin-password")
  (kept in $data/admin-password)"
fi
cat >&2 <<MSG

  plauder is starting on http://127.0.0.1:8080 (Ctrl-C stops it; PostgreSQL keeps running,
  stop it with: $PG_BIN/pg_ctl -D $data/pg/data stop)

  $admin_line

  More accounts, from another terminal:
    PLAUDER_USER_PASSWORD='choose-a-long-one' scripts/run.sh user create --username NAME --email E --role admin|moderator|user

MSG
exec target/release/plauder serve
