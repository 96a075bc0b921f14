# Shared by run.sh and test.sh: installing what is missing (Debian/Ubuntu, apt-get) and private
# PostgreSQL clusters. Sourced, not run.

PLAUDER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages PKG...: installs the Debian packages that are not installed yet.
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_venv NAME REQUIREMENT...: prints the path of a cached virtualenv
# (~/.cache/plauder/NAME-venv) holding the given PyPI requirements, creating or completing it on
# first use. Test servers for third-party protocols (SMTP, S3, ...) come from PyPI this way: CI
# installs nothing by hand. Fails (status 3) if python3's venv or pip cannot install them.
ensure_venv() {
    local name=$1; shift
    local venv="${XDG_CACHE_HOME:-$HOME/.cache}/plauder/${name}-venv"
    local stamp="$venv/.plauder-requirements" wanted="$*"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        if ! python3 -c 'import ensurepip' 2>/dev/null; then
            (ensure_packages python3-venv) >&2 || return 3
        fi
        { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"; } >&2 || return 3
        printf '%s' "$wanted" >"$stamp"
    fi
    printf '%s\n' "$venv"
}

ensure_postgres() {
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        ensure_packages postgresql
    fi
    PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    [ -x "$PG_BIN/initdb" ] || die "PostgreSQL's initdb not found under /usr/lib/postgresql"
}

# free_port START: the first port from START up that nothing listens on. Start below the
# ephemeral range (32768 and up on Linux): a port there can be held by a client socket in
# TIME_WAIT, which no connect test sees but which makes a listen fail.
free_port() {
    local port=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    echo "$port"
}

# Runs a PostgreSQL tool as the cluster's owner: initdb refuses root, so root uses `postgres`.
as_pg_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start DIR PORT [initdb args...]: creates the cluster in DIR/data if needed, then starts it
# listening on 127.0.0.1:PORT with its socket in DIR. Extra settings go in DIR/extra.conf.
pg_start() {
    local dir=$1 port=$2; shift 2
    ensure_postgres
    if [ "$(id -u)" -eq 0 ]; then
        install -d -o postgres -g postgres "$dir"
    else
        mkdir -p "$dir"
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 "$@" >/dev/null
        {
            echo "listen_addresses = '127.0.0.1'"
            echo "unix_socket_directories = '$dir'"
            echo "include_if_exists = '$dir/extra.conf'"
        } | as_pg_owner tee -a "$dir/data/postgresql.conf" >/dev/null
    fi
    as_pg_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -o "-p $port" -w start >/dev/null \
        || { tail -n 20 "$dir/log" >&2; die "PostgreSQL did not start (log: $dir/log)"; }
}

# redis_start DIR PORT: a throw-away redis-server (no persistence) on 127.0.0.1:PORT, pid in DIR.
# apt never starts services on these machines, and the tests want their own anyway.
redis_start() {
    local dir=$1 port=$2
    ensure_packages redis-server
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" --maxclients 4096 \
        || die "redis-server did not start (log: $dir/redis.log)"
    local i
    for i in $(seq 50); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "redis-server on port $port does not answer (log: $dir/redis.log)"
}

redis_stop() {
    local dir=$1
    [ -f "$dir/redis.pid" ] || return 0
    kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
}

# s3_start DIR VENV PORT: moto's S3 server from the virtualenv VENV (see ensure_venv) on
# 127.0.0.1:PORT, pid and log in DIR; returns once it answers.
s3_start() {
    local dir=$1 venv=$2 port=$3
    mkdir -p "$dir"
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
    echo $! >"$dir/moto.pid"
    local i
    for i in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null || break
        sleep 0.1
    done
    die "moto_server on port $port does not answer (log: $dir/moto.log)"
}

s3_stop() {
    local dir=$1
    [ -f "$dir/moto.pid" ] || return 0
    kill "$(cat "$dir/moto.pid")" 2>/dev/null || true
}

pg_stop() {
    local dir=$1
    [ -f "$dir/data/postmaster.pid" ] || return 0
    as_pg_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# bench_env FIRST_PG_PORT [extra postgresql.conf lines]: for the benchmark scripts, a work
# directory ($work) and a throw-away PostgreSQL with production durability holding the database
# plauder_bench ($DATABASE_URL exported). On exit the server whose pid is in $server_pid, the
# cluster and the directory go.
bench_env() {
    ensure_postgres
    work="$(mktemp -d "${TMPDIR:-/tmp}/plauder-bench.XXXXXX")"
    chmod 755 "$work"
    server_pid=""
    trap 'bench_cleanup' EXIT
    local port
    port="$(free_port "$1")"
    pg_start "$work/pg" "$port" --auth=trust
    printf 'max_connections = 200\n%s\n' "${2:-}" | as_pg_owner tee "$work/pg/extra.conf" >/dev/null
    as_pg_owner "$PG_BIN/pg_ctl" -D "$work/pg/data" -w restart -o "-p $port" -l "$work/pg/log" >/dev/null
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres plauder_bench
    export DATABASE_URL="postgres://postgres@127.0.0.1:${port}/plauder_bench"
    PG_PORT="$port"
}

bench_cleanup() {
    if [ -n "${server_pid:-}" ]; then kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; fi
    pg_stop "$work/pg"
    rm -rf "$work"
}

# test_certs DIR: a throw-away CA and, signed by it, a server certificate for "localhost" only (no
# IP address in it, so a client reaching 127.0.0.1 with sslmode=verify-full must refuse it) and a
# client certificate; plus a second CA that signed nothing here. For tests/api/tls.rs.
test_certs() {
    local dir=$1
    ensure_packages openssl
    mkdir -p "$dir"
    (
        set -e
        cd "$dir"
        ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
        for ca in ca other-ca; do
            openssl req -x509 "${ec[@]}" -days 7 -subj "/CN=plauder test $ca" -keyout "$ca.key" -out "$ca.crt" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
        done
        openssl req "${ec[@]}" -subj /CN=localhost -keyout server.key -out server.csr
        printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -extfile server.ext -out server.crt
        openssl req "${ec[@]}" -subj /CN=plauder -keyout client.key -out client.csr
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -extfile client.ext -out client.crt
        chmod 644 ./*.crt ./*.key
    ) >/dev/null 2>&1 || die "could not make the test certificates in $dir"
}
