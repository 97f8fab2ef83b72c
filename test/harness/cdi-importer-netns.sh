#!/usr/bin/env bash
# The inside of one cdi-importer run (cdi-importer.ts starts it under
# `unshare --mount --net --pid --fork`): a network namespace with only loopback, and a
# private mount namespace whose tmpfs root looks like the importer Pod's file system.
#
# The importer hard-codes /data/disk.img, /scratch, /dev/termination-log, /tmp/all_certs
# and /certs, and serves Prometheus on :8443 on all interfaces; here those are per-run
# folders and a port nobody else sees. The registry it pulls from is reachable on the
# same loopback address as outside: a bridge listens there and forwards each connection
# over a Unix socket (file system paths cross network namespaces) to the host side.
#
#   cdi-importer-netns.sh WORK_DIR TOOLS_CACHE IMPORTER REGISTRY_PORT [REGISTRY_IP]
# REGISTRY_IP (default 127.0.0.1): another of the host's addresses (a registry on the host's
# end of the real node's link) is put on this namespace's loopback, so the same address
# works here.
# WORK_DIR holds data/ scratch/ tmp/ certs/ termination-log registry.sock; the importer's
# environment comes through this script's environment; BRIDGE_NODE is a node binary.
set -euo pipefail
work=$1 cache=$2 importer=$3 port=$4 address=${5:-127.0.0.1}
# Nothing mounted here may show outside (unshare's default too; the host side removes
# WORK_DIR afterwards and must find plain folders, not binds of /usr).
mount --make-rprivate /

ip link set lo up
case $address in 127.*) ;; *) ip addr add "$address/32" dev lo ;; esac

# TCP 127.0.0.1:PORT -> $work/registry.sock, in this namespace; touches bridge.ready when listening.
"$BRIDGE_NODE" -e '
  const net = require("node:net");
  const fs = require("node:fs");
  const [port, sock, ready, address] = process.argv.slice(1);
  net
    .createServer((c) => {
      const u = net.connect(sock);
      c.pipe(u).pipe(c);
      c.on("error", () => u.destroy());
      u.on("error", () => c.destroy());
    })
    .listen(Number(port), address, () => fs.writeFileSync(ready, ""));
' "$port" "$work/registry.sock" "$work/bridge.ready" "$address" &
bridge=$!
trap 'kill $bridge 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -e "$work/bridge.ready" ] && break; sleep 0.1; done
[ -e "$work/bridge.ready" ] || { echo "registry bridge did not start" >&2; exit 90; }

root=$work/root
mkdir -p "$root"
mount -t tmpfs -o mode=0755 tmpfs "$root"
mkdir -p "$root"/{usr,etc,dev,proc,tmp,data,scratch,certs} "$root$cache"
# Read-only binds: the importer must not write to the host's /usr, /etc or tools.
readonly_bind() { mount --rbind "$1" "$2" && mount -o remount,bind,ro "$2"; }
readonly_bind /usr "$root/usr"
readonly_bind /etc "$root/etc"
for link in bin lib lib64 sbin; do [ -L "/$link" ] && ln -s "$(readlink "/$link")" "$root/$link"; done
for dev in null zero random urandom; do
  touch "$root/dev/$dev"
  mount --bind "/dev/$dev" "$root/dev/$dev"
done
touch "$root/dev/termination-log"
mount --bind "$work/termination-log" "$root/dev/termination-log"
mount -t proc proc "$root/proc"
for d in tmp data scratch certs; do mount --bind "$work/$d" "$root/$d"; done
# The tools cache at its own path: the qemu-img wrapper and its libraries live there.
readonly_bind "$cache" "$root$cache"

status=0
chroot "$root" "$importer" -v=1 || status=$?
exit $status
