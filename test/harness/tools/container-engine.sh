#!/usr/bin/env bash
# Makes sure a container engine answers on /var/run/docker.sock: installs Debian's docker.io
# when dockerd is missing (root, apt-get), and starts dockerd when nothing answers. The
# daemon is left running for the next run, as a system service would be: starting it is
# the slow part, and the images it holds are the cache.
#
# There is no bridge here and iptables cannot be changed, so the daemon runs without
# either and containers use the host's network (`--network host`). overlay2 first (a
# container starts in about a second); vfs, which copies the whole image per container
# (~10 s), only if overlay2 will not start. Its log: $cache/dockerd.log.
#
#   SERVERIMAGE_TOOLS_CACHE    cache root (default ~/.cache/serverimage-operator/tools)
set -euo pipefail

cache=${SERVERIMAGE_TOOLS_CACHE:-$HOME/.cache/serverimage-operator/tools}
log="$cache/dockerd.log"
mkdir -p "$cache"
say() { printf '[container-engine] %s\n' "$*" >&2; }

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# The real node's Pod network (test/harness/node/cni.ts): Debian's CNI plugins.
if [ ! -x /usr/lib/cni/bridge ] && [ "$(id -u)" = 0 ]; then
  say "installing Debian's containernetworking-plugins (the real node's Pod network) with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends containernetworking-plugins >>"$log" 2>&1 ||
    { apt-get update >>"$log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends containernetworking-plugins >>"$log" 2>&1; } ||
    { say "apt-get install containernetworking-plugins failed; last lines of $log:"; tail -n 20 "$log" | sed 's/^/  /' >&2; exit 1; }
fi
answers && exit 0

# One starter at a time: parallel set-ups wait for the first one's daemon.
exec 8>"$cache/.engine.lock"
flock 8
answers && exit 0

if ! command -v dockerd >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    say "no container engine: install Debian's docker.io (apt-get install docker.io) or start dockerd"
    exit 1
  fi
  say "installing Debian's docker.io (engine, containerd, runc) with apt-get"
  apt-get update >>"$log" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io >>"$log" 2>&1 ||
    { say "apt-get install docker.io failed; last lines of $log:"; tail -n 20 "$log" | sed 's/^/  /' >&2; exit 1; }
fi
if [ "$(id -u)" != 0 ]; then
  say "dockerd is installed but not running, and starting it needs root"
  exit 1
fi

# start DRIVER: dockerd detached from us (its own session, no inherited stdio), then up to
# 30 s for its socket to answer. Returns non-zero if it exited or never answered.
start() {
  local driver=$1 pid
  printf '\n=== %s dockerd --storage-driver=%s\n' "$(date -u +%FT%TZ)" "$driver" >>"$log"
  setsid dockerd --storage-driver="$driver" --iptables=false --bridge=none </dev/null >>"$log" 2>&1 &
  pid=$!
  for _ in $(seq 60); do
    answers && { say "dockerd ($driver) started, pid $pid; log $log"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
  done
  kill "$pid" 2>/dev/null || true
  return 1
}
say "starting dockerd"
start overlay2 || start vfs || {
  say "dockerd did not start; last lines of $log:"
  tail -n 20 "$log" | sed 's/^/  /' >&2
  exit 1
}
