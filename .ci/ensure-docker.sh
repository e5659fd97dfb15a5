#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine.
#   - installs Debian's docker.io when dockerd is absent (needs root and apt),
#   - starts dockerd when the daemon does not answer (systemd if it runs, else in the background),
#   - waits for it, and fails with a message that says why when it cannot.
# Idempotent: does nothing when `docker info` already answers.
set -euo pipefail

log() { printf 'ensure-docker: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

wait_seconds="${DOCKER_WAIT_SECONDS:-60}"
dockerd_log="${DOCKERD_LOG:-/var/log/dockerd-kit.log}"
dockerd="${DOCKERD:-dockerd}"   # the daemon binary to start when none answers

docker_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if docker_answers; then
  exit 0
fi

if ! command -v "$dockerd" >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || die "dockerd is not installed and this is not root: install Debian's docker.io, or run as root."
  command -v apt-get >/dev/null 2>&1 || die "dockerd is not installed and apt-get is absent: install a Docker engine by hand."
  log "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed: no access to the Debian archive?"
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null || die "apt-get install docker.io failed"
fi

if ! command -v docker >/dev/null 2>&1; then
  die "the docker client is missing although dockerd is installed"
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  log "starting docker with systemd"
  systemctl start docker || log "systemctl start docker failed; trying dockerd directly"
fi

started_pid=""
if ! docker_answers; then
  [ "$(id -u)" -eq 0 ] || die "the Docker daemon does not answer and only root can start it here."
  if ! pgrep -x "$(basename "$dockerd")" >/dev/null 2>&1; then
    log "starting $dockerd in the background (log: $dockerd_log)"
    # containerd comes with docker.io; dockerd starts its own when none runs. setsid puts the
    # daemon in a session of its own: it outlives the shell (or CI step) that started it.
    setsid nohup "$dockerd" >"$dockerd_log" 2>&1 </dev/null &
    started_pid=$!
  fi
fi

for _ in $(seq 1 "$wait_seconds"); do
  if docker_answers; then
    log "docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) is up"
    exit 0
  fi
  if [ -n "$started_pid" ] && ! kill -0 "$started_pid" 2>/dev/null; then
    reason="$(tail -n 5 "$dockerd_log" 2>/dev/null || true)"
    die "$dockerd exited at start-up.${reason:+ Last lines of $dockerd_log:
$reason}"
  fi
  sleep 1
done

reason="$(tail -n 5 "$dockerd_log" 2>/dev/null || true)"
die "the Docker daemon did not answer within ${wait_seconds}s.${reason:+ Last lines of $dockerd_log:
$reason}"
