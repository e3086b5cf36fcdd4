#!/usr/bin/env bash
# postgres.sh starts a PostgreSQL server for stackwave's tests and prints
# how to reach it. It installs PostgreSQL from Debian packages when it is
# missing, runs its own cluster ("stackwave") listening on 127.0.0.1 only,
# and creates a role and database for the tests. Running it again while the
# server is up changes nothing and prints the same answer.
#
#   scripts/postgres.sh          print the URL
#   scripts/postgres.sh --env    print "export STACKWAVE_POSTGRES_URL=...",
#                                for eval "$(scripts/postgres.sh --env)"
#   scripts/postgres.sh --stop   stop the cluster
#
# The port is 55432 unless STACKWAVE_POSTGRES_PORT says otherwise. Progress
# goes to stderr, so stdout carries only the answer. Must run as root (it
# installs packages and starts the server as the postgres user).
set -euo pipefail

port="${STACKWAVE_POSTGRES_PORT:-55432}"
cluster=stackwave
role=stackwave
password=stackwave
database=stackwave
url="postgres://${role}:${password}@127.0.0.1:${port}/${database}?sslmode=disable"

mode=url
case "${1:-}" in
"") ;;
--env) mode=env ;;
--url) mode=url ;;
--stop) mode=stop ;;
-h | --help)
	sed -n '2,17s/^# \{0,1\}//p' "$0"
	exit 0
	;;
*)
	echo "postgres.sh: unknown argument ${1}; want --env, --url or --stop" >&2
	exit 2
	;;
esac

log() { echo "postgres.sh: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
	log "must run as root (it installs packages and runs the server as the postgres user)"
	exit 1
fi

server_version() {
	local dir
	dir=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n 1)
	[[ -n $dir ]] || return 1
	basename "$(dirname "$(dirname "$dir")")"
}

if ! command -v pg_createcluster >/dev/null || ! server_version >/dev/null; then
	log "installing PostgreSQL from Debian packages"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends postgresql >&2
fi
version=$(server_version)

if [[ $mode == stop ]]; then
	if pg_ctlcluster "$version" "$cluster" status >/dev/null 2>&1; then
		pg_ctlcluster "$version" "$cluster" stop >&2
	fi
	log "stopped"
	exit 0
fi

if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version $cluster"; then
	log "creating cluster $version/$cluster on 127.0.0.1:$port"
	pg_createcluster "$version" "$cluster" --port "$port" --start-conf manual >&2
fi
# Loopback only, and room for many test pools. Debian's postgresql.conf
# reads conf.d, so the settings live in a file of their own.
cat >"/etc/postgresql/$version/$cluster/conf.d/stackwave.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
max_connections = 300
CONF

install -d -o postgres -g postgres -m 2775 /var/run/postgresql
if ! pg_ctlcluster "$version" "$cluster" status >/dev/null 2>&1; then
	log "starting cluster $version/$cluster"
	pg_ctlcluster "$version" "$cluster" start >&2
fi
for _ in $(seq 1 100); do
	pg_isready -q -h 127.0.0.1 -p "$port" && break
	sleep 0.1
done
if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
	log "the server did not come up; see /var/log/postgresql/postgresql-$version-$cluster.log"
	exit 1
fi

psql_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "$port" -d postgres "$@"; }
if [[ -z $(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$role'") ]]; then
	log "creating role $role"
	psql_admin -c "CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password'" >&2
fi
if [[ -z $(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'") ]]; then
	log "creating database $database"
	psql_admin -c "CREATE DATABASE $database OWNER $role" >&2
fi

case $mode in
env) printf "export STACKWAVE_POSTGRES_URL='%s'\n" "$url" ;;
url) printf '%s\n' "$url" ;;
esac
