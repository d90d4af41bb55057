# shellcheck shell=bash
# Starts a throwaway PostgreSQL cluster for the test-suite and exports
# PROCTOR_TEST_POSTGRES_URL. Meant to be *sourced* (by .ci/run, or by `make pg-test`):
#
#     source .ci/postgres.sh && .venv/bin/pytest tests/reference/storage
#
# - Finds initdb/pg_ctl on PATH or in Debian's /usr/lib/postgresql/<version>/bin; when
#   neither exists it installs Debian's `postgresql` package (root, or sudo).
# - The cluster lives in a temporary directory, listens on 127.0.0.1 only, on the first
#   free port from PROCTOR_PG_PORT (default 55432), with trust authentication for the
#   one local role `proctor`. PostgreSQL refuses to run as root, so as root the server
#   runs as the `postgres` system user (created when missing) through runuser.
# - Durability settings are off (fsync, synchronous_commit): the cluster is thrown away.
# - A trap on EXIT (and HUP/INT/TERM, which exit) stops the server and deletes the
#   directory. It replaces the sourcing shell's traps for those; if you need your own
#   EXIT trap, call proctor_pg_stop from it.
#
# Set PROCTOR_TEST_POSTGRES_URL beforehand to use an existing server instead.

proctor_pg_log() { echo "postgres.sh: $*" >&2; }

proctor_pg_bindir() {
    local found
    if found="$(command -v initdb 2>/dev/null)" && [ -n "$found" ]; then
        dirname "$(readlink -f "$found")"
        return 0
    fi
    # Debian keeps the server binaries off PATH, one directory per major version.
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -n "$found" ] && [ -x "$found/initdb" ]; then
        echo "$found"
        return 0
    fi
    return 1
}

proctor_pg_install() {
    proctor_pg_log "PostgreSQL not found; installing Debian's postgresql package"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            proctor_pg_log "need root (or sudo) to install postgresql"
            return 1
        fi
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
}

proctor_pg_port_free() {
    # A successful connect means someone listens there already.
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Runs a command as the cluster's owner (the postgres system user when we are root).
proctor_pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        PATH="$PATH:/usr/sbin:/sbin" runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

proctor_pg_stop() {
    if [ -n "${PROCTOR_PG_DIR:-}" ] && [ -d "$PROCTOR_PG_DIR" ]; then
        if [ -f "$PROCTOR_PG_DIR/data/postmaster.pid" ]; then
            proctor_pg_as_owner "$PROCTOR_PG_BIN/pg_ctl" -D "$PROCTOR_PG_DIR/data" \
                -m fast -w stop >/dev/null 2>&1 || true
        fi
        rm -rf "$PROCTOR_PG_DIR"
    fi
    unset PROCTOR_PG_DIR
}

proctor_pg_start() {
    if [ -n "${PROCTOR_TEST_POSTGRES_URL:-}" ]; then
        proctor_pg_log "using the existing server in PROCTOR_TEST_POSTGRES_URL"
        return 0
    fi
    PROCTOR_PG_BIN="$(proctor_pg_bindir)" || {
        proctor_pg_install || return 1
        PROCTOR_PG_BIN="$(proctor_pg_bindir)" || {
            proctor_pg_log "postgresql installed but initdb not found"
            return 1
        }
    }

    if [ "$(id -u)" -eq 0 ] && ! id -u postgres >/dev/null 2>&1; then
        PATH="$PATH:/usr/sbin:/sbin" useradd --system --user-group --home-dir /nonexistent \
            --shell /usr/sbin/nologin postgres
    fi

    PROCTOR_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/proctor-pg.XXXXXX")"
    trap proctor_pg_stop EXIT
    # Signals end the shell through `exit`, so the EXIT trap still cleans up.
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$PROCTOR_PG_DIR"
    fi

    local port="${PROCTOR_PG_PORT:-55432}" tries=0
    while ! proctor_pg_port_free "$port"; do
        port=$((port + 1))
        tries=$((tries + 1))
        if [ "$tries" -ge 50 ]; then
            proctor_pg_log "no free port near ${PROCTOR_PG_PORT:-55432}"
            return 1
        fi
    done

    proctor_pg_as_owner "$PROCTOR_PG_BIN/initdb" -D "$PROCTOR_PG_DIR/data" -U proctor \
        --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$PROCTOR_PG_DIR/initdb.log" 2>&1 || {
        cat "$PROCTOR_PG_DIR/initdb.log" >&2
        return 1
    }
    proctor_pg_as_owner "$PROCTOR_PG_BIN/pg_ctl" -D "$PROCTOR_PG_DIR/data" \
        -l "$PROCTOR_PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PROCTOR_PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || {
        cat "$PROCTOR_PG_DIR/server.log" >&2
        return 1
    }
    "$PROCTOR_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U proctor proctor_test || return 1

    export PROCTOR_TEST_POSTGRES_URL="postgresql://proctor@127.0.0.1:$port/proctor_test"
    proctor_pg_log "PostgreSQL $("$PROCTOR_PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($PROCTOR_TEST_POSTGRES_URL)"
}

proctor_pg_start
