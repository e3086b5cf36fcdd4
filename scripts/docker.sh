#!/usr/bin/env bash
# docker.sh makes sure the Docker engine the tests use answers, and says
# why when it cannot.
#
#   scripts/docker.sh            check; start the engine if it is not running
#   scripts/docker.sh --restart-hung
#                                also restart an engine that answers its
#                                ping but hangs on network calls
#
# The tests talk to the engine at DOCKER_HOST (default the local socket).
# When nothing answers there and this machine has dockerd, it is started
# (as root, in its own session, logging to /var/log/dockerd.log) and
# waited for.
#
# Docker Engine 20.10 can deadlock in its network code when many
# containers on user-defined networks exit at once (moby/moby#46661, fixed
# in later releases): /_ping still answers, but every network call hangs.
# With --restart-hung (CI passes it) such an engine is restarted, since no
# test can pass on it; without it, this script only says so and fails.
set -euo pipefail

restart_hung=false
case "${1:-}" in
"") ;;
--restart-hung) restart_hung=true ;;
-h | --help)
	sed -n '2,18s/^# \{0,1\}//p' "$0"
	exit 0
	;;
*)
	echo "docker.sh: unknown argument ${1}; want --restart-hung" >&2
	exit 2
	;;
esac

say() { printf 'docker.sh: %s\n' "$*" >&2; }

# answers CMD... runs a docker CLI command with a bound on its time.
answers() { timeout "${2:-20}" docker $1 >/dev/null 2>&1; }

local_engine() {
	[[ -z "${DOCKER_HOST:-}" || "${DOCKER_HOST}" == unix:///var/run/docker.sock ]]
}

start_engine() {
	if ! command -v dockerd >/dev/null 2>&1 || [[ $(id -u) -ne 0 ]] || ! local_engine; then
		say "no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}, and this script cannot start one here (needs dockerd, root and the local socket)"
		exit 1
	fi
	say "starting dockerd"
	setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
	for _ in $(seq 1 120); do
		answers version 5 && return 0
		sleep 1
	done
	say "dockerd did not answer within 120 s; see /var/log/dockerd.log"
	exit 1
}

stop_engine() {
	local pid
	pid=$(pgrep -x dockerd | head -1 || true)
	[[ -n "$pid" ]] || return 0
	say "stopping dockerd (pid $pid)"
	kill -TERM "$pid" || true
	for _ in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 1
	done
	kill -KILL "$pid" 2>/dev/null || true
	sleep 2
}

if ! command -v docker >/dev/null 2>&1; then
	say "the docker command is missing: install docker.io (or docker-ce)"
	exit 1
fi

if ! answers version; then
	start_engine
fi

# A network listing takes the engine's network locks: it hangs when they
# are deadlocked.
if ! answers "network ls" 60; then
	if ! $restart_hung || ! local_engine || [[ $(id -u) -ne 0 ]]; then
		say "the Docker engine answers but its network calls hang (a known Engine 20.10 deadlock); restart dockerd"
		exit 1
	fi
	say "the Docker engine's network calls hang (a known Engine 20.10 deadlock): restarting it"
	stop_engine
	start_engine
	if ! answers "network ls" 60; then
		say "the restarted Docker engine still hangs on network calls"
		exit 1
	fi
fi
say "engine $(timeout 20 docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?') answers"
