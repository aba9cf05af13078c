#!/usr/bin/env bash
# Bootstrap a working Wangge checkout: Python venv, PostgreSQL + PostGIS, one database, the env
# file the Makefile sources, the vendored front-end assets and (with --browser) Chromium.
#
#   scripts/bootstrap.sh DBNAME [--browser]
#
# Idempotent: a second run checks, installs nothing and takes a few seconds. See docs/SETUP.md.
#
# PostgreSQL, in this order:
#   1. DATABASE_URL, when set, is used as it is (server, credentials and database).
#   2. WANGGE_LOCAL_CLUSTER=1, or an existing project cluster in .local/pgdata: that cluster
#      (set WANGGE_LOCAL_CLUSTER=0 to ignore an existing one).
#   3. A server answering on 127.0.0.1:5432: postgresql://postgres@127.0.0.1:5432/DBNAME.
#   4. Otherwise a project-owned cluster in .local/pgdata on 127.0.0.1:55432.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL="$ROOT/.local"
PGDATA_DIR="$LOCAL/pgdata"
PGSOCK_DIR="$LOCAL/pgsock"
PGLOG="$LOCAL/postgres.log"
LOCAL_PORT=55432
CHROMIUM=/usr/bin/chromium

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
    printf 'bootstrap: error: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '    %s\n' "$line" >&2; done
    exit 1
}

usage() {
    cat >&2 <<'EOF'
usage: scripts/bootstrap.sh DBNAME [--browser]

  DBNAME     database to create/use (letters, digits, underscore), e.g. wangge or wangge_test
  --browser  also install Debian's chromium and fonts-noto-cjk (for the browser tests)

Environment: DATABASE_URL (use this server/database), WANGGE_LOCAL_CLUSTER=1|0 (force/ignore the
project-owned cluster on 127.0.0.1:55432). See docs/SETUP.md.
EOF
    exit 2
}

# --- arguments -------------------------------------------------------------------------------
DBNAME=""
BROWSER=0
for arg in "$@"; do
    case "$arg" in
        --browser) BROWSER=1 ;;
        -h | --help) usage ;;
        -*) printf 'bootstrap: unknown option: %s\n' "$arg" >&2; usage ;;
        *)
            [[ -z "$DBNAME" ]] || { printf 'bootstrap: more than one DBNAME given\n' >&2; usage; }
            DBNAME=$arg
            ;;
    esac
done
[[ -n "$DBNAME" ]] || usage
# A plain identifier: no quoting problems in SQL, URLs, file names or the env file.
[[ "$DBNAME" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] \
    || die "invalid DBNAME '$DBNAME'" "use letters, digits and underscores (e.g. wangge, wangge_test)"

cd "$ROOT"
mkdir -p "$LOCAL"

# --- privileges and apt ----------------------------------------------------------------------
SUDO=()
APT_UPDATED=0

# Make sure we may install system packages; otherwise say exactly what to run by hand.
need_root() { # WHAT PKG...
    local what=$1
    shift
    if [[ $EUID -eq 0 ]]; then
        SUDO=()
        return 0
    fi
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
        return 0
    fi
    die "$what is missing and installing it needs root (or passwordless sudo)." \
        "Install it yourself, then run this script again:" \
        "  sudo apt-get update && sudo apt-get install -y $*"
}

apt_install() { # WHAT PKG...
    local what=$1
    shift
    command -v apt-get >/dev/null 2>&1 \
        || die "$what is missing and this is not a Debian/Ubuntu system (no apt-get)." \
            "Install these packages (or their equivalents) yourself: $*"
    need_root "$what" "$@"
    if [[ $APT_UPDATED -eq 0 ]]; then
        say "apt-get update"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    say "apt-get install $* ($what)"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

dpkg_installed() { # PKG
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# --- Python ----------------------------------------------------------------------------------
PY_OK='import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'

find_python() {
    local p
    for p in python3.12 python3.11 python3; do
        # Run it: a pyenv shim or a stale alias can exist and still fail.
        if command -v "$p" >/dev/null 2>&1 && "$p" -c "$PY_OK" >/dev/null 2>&1; then
            command -v "$p"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    if [[ -x .venv/bin/python ]] && .venv/bin/python -c "$PY_OK" >/dev/null 2>&1; then
        return 0
    fi
    local py
    if ! py=$(find_python); then
        apt_install "Python 3.11+" python3 python3-venv python3-dev
        py=$(find_python) || die "no python3.11+ found even after installing python3"
    fi
    if [[ -e .venv ]]; then
        say "Recreating .venv (its Python is missing or older than 3.11)"
    else
        say "Creating .venv with $py ($("$py" --version 2>&1))"
    fi
    if ! "$py" -c 'import ensurepip' >/dev/null 2>&1; then
        # Debian splits venv/ensurepip out of the interpreter package.
        apt_install "python venv support" python3-venv
    fi
    "$py" -m venv --clear .venv
    rm -f "$LOCAL/pip.sha256"
}

ensure_python_packages() {
    local stamp="$LOCAL/pip.sha256" want have=""
    want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
    [[ -f "$stamp" ]] && have=$(<"$stamp")
    if [[ "$want" == "$have" && -x .venv/bin/alembic && -x .venv/bin/wangge && -x .venv/bin/pytest ]]; then
        note "Python packages up to date (pyproject.toml and constraints.txt unchanged)"
        return 0
    fi
    say "Installing the project into .venv (pip install -c constraints.txt -e '.[dev]')"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
    printf '%s\n' "$want" >"$stamp"
}

# --- PostgreSQL helpers ----------------------------------------------------------------------
export PGCONNECT_TIMEOUT=10

psql_at() { # URL [psql args...]; -w: never prompt for a password (CI has no stdin)
    local url=$1
    shift
    psql -X -w -q -A -t -v ON_ERROR_STOP=1 -d "$url" "$@"
}

ensure_pg_client() {
    if ! command -v pg_isready >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
        apt_install "the PostgreSQL client (psql, pg_isready)" postgresql-client
    fi
}

# Run a PostgreSQL server binary as the cluster's owner: initdb and pg_ctl refuse root.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

pg_bin_dir() { # newest /usr/lib/postgresql/*/bin with initdb, or the one matching PG_VERSION
    local d
    if [[ -f "$PGDATA_DIR/PG_VERSION" ]]; then
        d="/usr/lib/postgresql/$(<"$PGDATA_DIR/PG_VERSION")/bin"
        [[ -x "$d/initdb" ]] && { printf '%s\n' "$d"; return 0; }
    fi
    d=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null \
        | sort -V | tail -n 1)
    [[ -n "$d" ]] || return 1
    dirname "$d"
}

# Every directory from / to $1 must be searchable by the postgres user.
check_postgres_can_reach() {
    local target=$1 d=""
    if as_pg test -x "$target"; then
        return 0
    fi
    local part path="" parts
    IFS=/ read -r -a parts <<<"${target#/}"
    for part in "${parts[@]}"; do
        path="$path/$part"
        if ! as_pg test -x "$path"; then
            d=$path
            break
        fi
    done
    die "the postgres user cannot reach ${d:-$target} (mode $(stat -c %a "${d:-$target}"), owner $(stat -c %U "${d:-$target}"))." \
        "The project cluster's data directory lives in $LOCAL, so postgres must be able to" \
        "traverse every directory above it. Either allow it:  chmod o+x ${d:-$target}" \
        "or use another server: set DATABASE_URL, or run a PostgreSQL server on 127.0.0.1:5432."
}

start_local_cluster() {
    local bin
    if ! bin=$(pg_bin_dir); then
        apt_install "the PostgreSQL server (initdb)" postgresql-15
        bin=$(pg_bin_dir) || die "initdb not found under /usr/lib/postgresql/*/bin after installing postgresql-15"
    fi
    if [[ $EUID -eq 0 ]]; then
        id -u postgres >/dev/null 2>&1 \
            || die "there is no 'postgres' user to own the cluster (it comes with postgresql-common)" \
                "apt-get install -y postgresql-common"
        chmod o+x "$LOCAL"
        check_postgres_can_reach "$LOCAL"
    fi
    local sock_path="$PGSOCK_DIR/.s.PGSQL.$LOCAL_PORT"
    ((${#sock_path} < 100)) \
        || die "the socket path $sock_path is too long for a Unix socket (max ~100 characters)" \
            "move the checkout to a shorter path, or set DATABASE_URL"

    mkdir -p "$PGDATA_DIR" "$PGSOCK_DIR"
    touch "$PGLOG"
    if [[ $EUID -eq 0 ]]; then
        chown postgres:postgres "$PGDATA_DIR" "$PGSOCK_DIR" "$PGLOG"
    fi
    chmod 700 "$PGDATA_DIR"
    chmod 755 "$PGSOCK_DIR"

    if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
        [[ -z "$(ls -A "$PGDATA_DIR")" ]] \
            || die "$PGDATA_DIR is not empty but holds no cluster" "remove it to start afresh"
        say "Creating the project cluster in .local/pgdata ($("$bin/initdb" --version))"
        as_pg "$bin/initdb" -D "$PGDATA_DIR" --username=postgres --auth=trust \
            --locale=C.UTF-8 --encoding=UTF8 >/dev/null
        printf "\n# Wangge project cluster: settings written by scripts/bootstrap.sh\ninclude_if_exists = 'wangge.conf'\n" \
            >>"$PGDATA_DIR/postgresql.conf"
    fi
    # Rewritten every run (cheap) so a moved checkout gets the right socket directory.
    local conf="$PGDATA_DIR/wangge.conf"
    printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" \
        "$LOCAL_PORT" "$PGSOCK_DIR" >"$conf.tmp"
    if ! cmp -s "$conf.tmp" "$conf"; then mv "$conf.tmp" "$conf"; else rm -f "$conf.tmp"; fi
    [[ $EUID -ne 0 ]] || chown postgres:postgres "$conf"

    if as_pg "$bin/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
        note "project cluster already running on 127.0.0.1:$LOCAL_PORT"
    else
        say "Starting the project cluster on 127.0.0.1:$LOCAL_PORT (log: .local/postgres.log)"
        as_pg "$bin/pg_ctl" -D "$PGDATA_DIR" -l "$PGLOG" -w -t 60 start >/dev/null \
            || die "the project cluster did not start; see $PGLOG" "$(tail -n 5 "$PGLOG" 2>/dev/null)"
    fi
    pg_isready -q -h 127.0.0.1 -p "$LOCAL_PORT" \
        || die "the project cluster does not answer on 127.0.0.1:$LOCAL_PORT; see $PGLOG"
}

# Sets DB_URL (what the app uses), ADMIN_URL (maintenance db, same credentials), PSQL_DB_URL
# (psql-compatible DB_URL), DB_HOST and DB_NAME.
choose_server() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        say "PostgreSQL: using DATABASE_URL"
        local parsed
        parsed=$(.venv/bin/python - "$DATABASE_URL" <<'PY'
import sys
from urllib.parse import parse_qs, urlsplit, urlunsplit

url = urlsplit(sys.argv[1])
scheme = url.scheme.split("+", 1)[0]
if scheme not in ("postgresql", "postgres"):
    sys.exit(f"DATABASE_URL must be a postgresql:// URL, not {url.scheme}://")
name = url.path.lstrip("/")
if not name:
    sys.exit("DATABASE_URL names no database (postgresql://user@host:port/DBNAME)")
host = url.hostname or parse_qs(url.query).get("host", [""])[0]
psql_url = urlunsplit(("postgresql", url.netloc, url.path, url.query, ""))
admin_url = urlunsplit(("postgresql", url.netloc, "/postgres", url.query, ""))
print(name, host or "-", psql_url, admin_url, sep="\n")
PY
        ) || die "cannot use DATABASE_URL"
        {
            read -r DB_NAME
            read -r DB_HOST
            read -r PSQL_DB_URL
            read -r ADMIN_URL
        } <<<"$parsed"
        DB_URL=$DATABASE_URL
        [[ "$DB_NAME" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] \
            || die "DATABASE_URL's database name '$DB_NAME' is not a plain identifier"
        if [[ "$DB_NAME" != "$DBNAME" ]]; then
            note "note: DATABASE_URL names database '$DB_NAME'; using it instead of '$DBNAME'"
        fi
        ensure_pg_client
        return 0
    fi

    ensure_pg_client
    local port
    local mode=${WANGGE_LOCAL_CLUSTER:-}
    if [[ "$mode" == 1 ]]; then
        say "PostgreSQL: project cluster (WANGGE_LOCAL_CLUSTER=1)"
        start_local_cluster
        port=$LOCAL_PORT
    elif [[ "$mode" != 0 && -f "$PGDATA_DIR/PG_VERSION" ]]; then
        say "PostgreSQL: project cluster (.local/pgdata exists; WANGGE_LOCAL_CLUSTER=0 ignores it)"
        start_local_cluster
        port=$LOCAL_PORT
    elif pg_isready -q -h 127.0.0.1 -p 5432 -t 5; then
        say "PostgreSQL: server on 127.0.0.1:5432"
        port=5432
    elif [[ "$mode" == 0 ]]; then
        die "no PostgreSQL server answers on 127.0.0.1:5432 and WANGGE_LOCAL_CLUSTER=0" \
            "start one, set DATABASE_URL, or unset WANGGE_LOCAL_CLUSTER to get a project cluster"
    else
        say "PostgreSQL: nothing on 127.0.0.1:5432, using a project cluster"
        start_local_cluster
        port=$LOCAL_PORT
    fi
    DB_NAME=$DBNAME
    DB_HOST=127.0.0.1
    DB_URL="postgresql://postgres@127.0.0.1:$port/$DBNAME"
    PSQL_DB_URL=$DB_URL
    ADMIN_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

is_local_host() {
    case "$1" in
        - | 127.* | localhost | ::1 | /*) return 0 ;;
        *) return 1 ;;
    esac
}

ensure_postgis() {
    local have
    have=$(psql_at "$ADMIN_URL" -c "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'") \
        || die "cannot connect to PostgreSQL as $(printf '%s' "$ADMIN_URL" | sed -E 's#//([^:@/]*):[^@]*@#//\1:***@#')" \
            "the bootstrap needs a superuser connection (to create the database and extensions)"
    if [[ "$have" == 1 ]]; then
        note "PostGIS available"
        return 0
    fi
    local num major
    num=$(psql_at "$ADMIN_URL" -c "SHOW server_version_num")
    major=$((num / 10000))
    if ! is_local_host "$DB_HOST"; then
        die "the PostgreSQL server at $DB_HOST has no PostGIS extension available." \
            "Install PostGIS ${major} on that server (Debian: postgresql-${major}-postgis-3), or point" \
            "DATABASE_URL at a server that has it."
    fi
    apt_install "PostGIS for PostgreSQL $major" "postgresql-$major-postgis-3"
    have=$(psql_at "$ADMIN_URL" -c "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
    [[ "$have" == 1 ]] || die "PostGIS is still not available after installing postgresql-$major-postgis-3" \
        "is the server on $DB_HOST really PostgreSQL $major from Debian's packages?"
}

ensure_database() {
    local exists
    exists=$(psql_at "$ADMIN_URL" -v db="$DB_NAME" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'db';
SQL
    )
    if [[ "$exists" != 1 ]]; then
        say "Creating database $DB_NAME (UTF8, C.UTF-8)"
        psql_at "$ADMIN_URL" -v db="$DB_NAME" <<'SQL'
CREATE DATABASE :"db" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8';
SQL
    else
        local ctype
        ctype=$(psql_at "$ADMIN_URL" -v db="$DB_NAME" <<'SQL'
SELECT datctype FROM pg_database WHERE datname = :'db';
SQL
        )
        note "database $DB_NAME exists (ctype $ctype)"
        case "$ctype" in
            *[Uu][Tt][Ff]8* | *[Uu][Tt][Ff]-8*) ;;
            *)
                printf 'bootstrap: WARNING: database %s has ctype %s: pg_trgm ignores Chinese characters there.\n' \
                    "$DB_NAME" "$ctype" >&2
                printf '    drop it (dropdb %s) and run this script again to recreate it with C.UTF-8.\n' \
                    "$DB_NAME" >&2
                ;;
        esac
    fi
    psql_at "$PSQL_DB_URL" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gist;
SQL
    note "extensions postgis, pg_trgm, btree_gist present in $DB_NAME"
}

# --- secrets and env file --------------------------------------------------------------------
ensure_jwt_secret() {
    local f="$LOCAL/jwt_secret"
    if [[ ! -s "$f" ]]; then
        say "Generating the JWT secret (.local/jwt_secret)"
        (
            umask 077
            .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))' >"$f.tmp"
            mv "$f.tmp" "$f"
        )
    fi
    chmod 600 "$f"
}

sq() { # single-quote for sh
    local s=${1//\'/\'\\\'\'}
    printf "'%s'" "$s"
}

write_env_file() {
    local f="$LOCAL/env.$DBNAME"
    (
        umask 077
        {
            printf '# Written by scripts/bootstrap.sh %s; sourced by the Makefile. Do not edit.\n' "$DBNAME"
            printf 'export DATABASE_URL=%s\n' "$(sq "$DB_URL")"
            # The secret stays in one file; a value already in the environment wins.
            # shellcheck disable=SC2016  # expanded when the env file is sourced, not now
            printf 'export WANGGE_JWT_SECRET="${WANGGE_JWT_SECRET:-$(cat %s)}"\n' "$(sq "$LOCAL/jwt_secret")"
            if [[ $BROWSER -eq 1 ]]; then
                # shellcheck disable=SC2016
                printf 'export WANGGE_CHROMIUM="${WANGGE_CHROMIUM:-%s}"\n' "$CHROMIUM"
            fi
        } >"$f.tmp"
        mv "$f.tmp" "$f"
    )
    note "wrote .local/env.$DBNAME"
}

# --- browser and front-end -------------------------------------------------------------------
ensure_browser() {
    local missing=()
    [[ -x "$CHROMIUM" ]] || missing+=(chromium)
    dpkg_installed fonts-noto-cjk || missing+=(fonts-noto-cjk)
    if ((${#missing[@]})); then
        apt_install "the browser-test tools" "${missing[@]}"
        [[ -x "$CHROMIUM" ]] || die "$CHROMIUM is still missing after installing chromium"
    else
        note "chromium and fonts-noto-cjk installed"
    fi
}

ensure_assets() {
    [[ -f map_ui/assets.py ]] \
        || die "map_ui/assets.py is missing: cannot install the front-end assets." \
            "It provides 'python -m map_ui.assets install' (npm ci + copy into map_ui/static/vendor/)."
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        apt_install "Node.js and npm (front-end assets)" nodejs npm
    fi
    say "Front-end assets (python -m map_ui.assets install)"
    .venv/bin/python -m map_ui.assets install
}

# --- main ------------------------------------------------------------------------------------
START=$SECONDS
say "Bootstrapping $ROOT for database $DBNAME"
say "Python"
ensure_venv
note "$(.venv/bin/python --version) in .venv"
ensure_python_packages
choose_server
ensure_postgis
ensure_database
ensure_jwt_secret
write_env_file
if [[ $BROWSER -eq 1 ]]; then
    say "Browser"
    ensure_browser
fi
ensure_assets
say "Done in $((SECONDS - START)) s: DATABASE_URL=$(printf '%s' "$DB_URL" | sed -E 's#//([^:@/]*):[^@]*@#//\1:***@#')"
note "source .local/env.$DBNAME to use it in a shell"
