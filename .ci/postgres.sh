# shellcheck shell=bash
# Installs (when missing) and starts a local PostgreSQL server for the store conformance suite, then exports
# DEPCTL_TEST_POSTGRES_URL. .ci/run *sources* this file so the export reaches `npm test`; running it directly
# also works and prints the export line. Safe to repeat on a machine where PostgreSQL is already installed
# and running: every step checks before it acts. It never calls `exit`, because that would end the caller.

depctl_pg_as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

depctl_pg_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

depctl_pg_setup() {
  local ver status port i
  if ! command -v pg_lsclusters >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "== installing PostgreSQL (Debian packages)"
    depctl_pg_root apt-get update -qq || return 1
    DEBIAN_FRONTEND=noninteractive depctl_pg_root apt-get install -y -qq postgresql >/dev/null || return 1
  fi
  ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
    depctl_pg_root pg_createcluster "$ver" main >/dev/null || return 1
  fi
  port=$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { print $3 }')
  status=$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { print $4 }')
  if [ "$status" != "online" ]; then
    echo "== starting PostgreSQL $ver cluster main on 127.0.0.1:$port"
    # Without systemd (containers, CI) pg_ctlcluster starts the server itself as the cluster owner.
    depctl_pg_root pg_ctlcluster "$ver" main start || return 1
  fi
  for i in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
  done
  pg_isready -q -h 127.0.0.1 -p "$port" || { echo "PostgreSQL did not become ready on port $port" >&2; return 1; }
  # A throw-away role and database for tests only; Debian's pg_hba.conf allows password logins on 127.0.0.1.
  depctl_pg_as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'depctl_test') THEN
        CREATE ROLE depctl_test LOGIN PASSWORD 'depctl_test';
      END IF; END \$\$;" || return 1
  if [ -z "$(depctl_pg_as_postgres psql -p "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = 'depctl_test'")" ]; then
    depctl_pg_as_postgres createdb -p "$port" -O depctl_test depctl_test || return 1
  fi
  export DEPCTL_TEST_POSTGRES_URL="postgres://depctl_test:depctl_test@127.0.0.1:$port/depctl_test"
  echo "== PostgreSQL ready: DEPCTL_TEST_POSTGRES_URL=$DEPCTL_TEST_POSTGRES_URL"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Run directly: report failure through the exit status and print the line to eval.
  depctl_pg_setup >&2 || exit 1
  echo "export DEPCTL_TEST_POSTGRES_URL=$DEPCTL_TEST_POSTGRES_URL"
else
  depctl_pg_setup || return 1
fi
