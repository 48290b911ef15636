#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the store's conformance tests.
#
#   eval "$(scripts/postgres.sh start)"   # install if needed, start, export SAFEHEAL_TEST_POSTGRES_URL
#   scripts/postgres.sh stop              # stop it and delete its data (silent, idempotent)
#   scripts/postgres.sh status            # say whether it runs (exit 0) or not (exit 3)
#
# `start` prints only the export line on stdout (everything else goes to stderr), and is idempotent:
# when the server in $SAFEHEAL_PG_DIR already runs it prints the same line again. When
# SAFEHEAL_TEST_POSTGRES_URL already names a server of your own, `start` keeps it and starts nothing.
# PostgreSQL comes from Debian's packages (apt-get, needs root). The cluster lives in
# $SAFEHEAL_PG_DIR (default /tmp/safeheal-postgres-<id of this checkout>), listens only on 127.0.0.1 on a free port,
# runs as the `postgres` user when started by root (initdb refuses root), and trades durability for
# speed (fsync off): it is for tests only.
set -euo pipefail

# One cluster per checkout by default, so two clones on one machine never share (or stop) a server.
checkout_id=$(cd "$(dirname "$0")/.." && pwd -P | cksum | cut -d' ' -f1)
PG_DIR="${SAFEHEAL_PG_DIR:-/tmp/safeheal-postgres-$checkout_id}"
DATA="$PG_DIR/data"
STATE="$PG_DIR/url"
DB_USER="safeheal"
DB_NAME="safeheal_test"

say() { echo "postgres.sh: $*" >&2; }

# The line for the caller's eval, single-quoted so that any shell reads the URL verbatim.
emit() { printf "export SAFEHEAL_TEST_POSTGRES_URL='%s'\n" "${1//\'/\'\\\'\'}"; }
die() { say "$*"; exit 1; }

find_bindir() {
    local candidate dirs
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    # Debian keeps the server binaries out of PATH, one directory per major version: take the newest.
    shopt -s nullglob
    dirs=(/usr/lib/postgresql/*/bin)
    shopt -u nullglob
    for candidate in $(printf '%s\n' "${dirs[@]}" | sort -V -r); do
        if [[ -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

install_postgres() {
    if [[ "$(id -u)" != 0 ]]; then
        die "PostgreSQL (initdb, pg_ctl) is not installed and installing it needs root: run" \
            "'sudo apt-get install postgresql' (Debian/Ubuntu), or set SAFEHEAL_TEST_POSTGRES_URL" \
            "to a PostgreSQL database you may create schemas in, and this script will use it"
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "PostgreSQL is not installed and this is not a Debian-like system (no apt-get)"
    say "installing PostgreSQL from Debian's packages (a minute or two)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
}

# Run a command as the cluster's owner: ourselves, or `postgres` when we are root.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        # From a directory the owner can enter, so the server tools don't complain about ours.
        (cd / && runuser -u "$OWNER" -- "$@")
    else
        "$@"
    fi
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return 0
    fi
    local port
    for port in $(seq 54329 54429); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free TCP port found on 127.0.0.1 between 54329 and 54429"
}

# Running, and answering on the port we recorded (a stale pid file may name a reused pid).
is_running() {
    [[ -f "$DATA/postmaster.pid" && -f "$STATE" ]] || return 1
    as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 || return 1
    local port
    port="$(sed -E 's#.*:([0-9]+)/[^/]*$#\1#' "$STATE")"
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 5
}

setup_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        if id postgres >/dev/null 2>&1; then OWNER=postgres; else OWNER=nobody; fi
    else
        OWNER="$(id -un)"
    fi
}

start() {
    if [[ -n "${SAFEHEAL_TEST_POSTGRES_URL:-}" && ! -f "$STATE" ]]; then
        say "using the server already named by SAFEHEAL_TEST_POSTGRES_URL"
        emit "$SAFEHEAL_TEST_POSTGRES_URL"
        return 0
    fi
    BIN="$(find_bindir)" || { install_postgres; BIN="$(find_bindir)" || die "PostgreSQL installed but initdb not found"; }
    setup_owner
    if is_running; then
        say "already running ($DATA)"
        emit "$(cat "$STATE")"
        return 0
    fi
    # A stale directory (crashed run, reboot): clear it and start afresh.
    if [[ -f "$DATA/postmaster.pid" ]]; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
    mkdir -p "$PG_DIR"
    chmod 700 "$PG_DIR"
    if [[ "$(id -u)" == 0 ]]; then chown "$OWNER" "$PG_DIR"; fi

    local password port url
    password="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)"
    printf '%s\n' "$password" > "$PG_DIR/pwfile"
    if [[ "$(id -u)" == 0 ]]; then chown "$OWNER" "$PG_DIR/pwfile"; fi
    chmod 600 "$PG_DIR/pwfile"

    say "initdb in $DATA (as $OWNER, $("$BIN/postgres" --version))"
    as_owner "$BIN/initdb" -D "$DATA" -U "$DB_USER" --pwfile="$PG_DIR/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-instructions \
        >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$PG_DIR/pwfile"

    port="$(free_port)"
    say "starting on 127.0.0.1:$port"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || { cat "$PG_DIR/server.log" >&2; die "the server did not start"; }

    PGPASSWORD="$password" "$BIN/createdb" -h 127.0.0.1 -p "$port" -U "$DB_USER" "$DB_NAME" \
        || die "could not create the database $DB_NAME"

    url="postgresql+psycopg://$DB_USER:$password@127.0.0.1:$port/$DB_NAME"
    printf '%s\n' "$url" > "$STATE"
    chmod 600 "$STATE"
    emit "$url"
}

# Quiet on success: it runs after the test runner, whose closing line should stay the last one.
stop() {
    if [[ ! -d "$PG_DIR" ]]; then
        return 0
    fi
    BIN="$(find_bindir)" || { rm -rf "$PG_DIR"; return 0; }
    setup_owner
    if [[ -f "$DATA/postmaster.pid" ]]; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 \
            || as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
}

status() {
    BIN="$(find_bindir)" || { say "PostgreSQL is not installed"; exit 3; }
    setup_owner
    if is_running; then
        say "running: $(sed 's/:[^:@]*@/:***@/' "$STATE")"
    else
        say "not running"
        exit 3
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
