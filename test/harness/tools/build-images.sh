#!/usr/bin/env bash
# Builds the container images of the test bed, here: no image registry is reachable, so
# nothing is pulled.
#   node-base  Debian's minimal root fs (debootstrap --variant=minbase) with the Node 24
#              binary of the npm `node` package the project installs, and the host's npm
#   operator   the repo's Dockerfile on node-base (BASE build argument; users get the
#              upstream node:24 alpine image by default)
#   exporter   KubeVirt's virt-exportserver (built by build-tools.sh) in a root fs as KubeVirt
#              ships it: the static binary in /usr/bin, its nonroot user 1001, nothing else
#   pause      the Pod sandbox's image for the bed's containerd: tools/pause/main.go alone
#   coredns    CoreDNS (built by build-tools.sh) as its own Dockerfile ships it: /coredns,
#              user nonroot 65532, the binary as entrypoint
# Each image is tagged serverimage-testbed/NAME:KEY, KEY a hash of its inputs (for the
# operator: the Dockerfile, package files and src/), and saved as a tarball in
# $cache/images (for runtimes other than the engine's, and to reload after the engine's
# storage is wiped). A warm run finds every image and returns at once. Prints NAME=REF
# lines on stdout; on stderr one line per image built, with its time, and a line every 30 s
# while one builds. Build output goes to $cache/images/build.log, whose tail is printed
# when a build fails.
#
#   build-images.sh [IMAGE...]  only these images (default: all)
#   SERVERIMAGE_TOOLS_CACHE     cache root (default ~/.cache/serverimage-operator/tools)
#   SERVERIMAGE_DEBIAN_MIRROR   debootstrap's mirror (default http://deb.debian.org/debian)
set -eEuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${SERVERIMAGE_TOOLS_CACHE:-$HOME/.cache/serverimage-operator/tools}
dir="$cache/images"
log="$dir/build.log"
mkdir -p "$dir"
say() { printf '[build-images] %s\n' "$*" >&2; }

all_images=(node-base operator exporter pause coredns)
images=("$@")
[ ${#images[@]} -gt 0 ] || images=("${all_images[@]}")
for i in "${images[@]}"; do
  case " ${all_images[*]} " in *" $i "*) ;; *) say "unknown image $i (known: ${all_images[*]})"; exit 2 ;; esac
done
# In build order; the operator image is built on node-base.
case " ${images[*]} " in *" operator "*) images+=(node-base) ;; esac
wanted=" ${images[*]} " images=()
for i in "${all_images[@]}"; do case $wanted in *" $i "*) images+=("$i") ;; esac; done

bash "$here/container-engine.sh"

node_bin="$root/node_modules/node/bin/node"
npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)

# ---- recipes (each key hashes its recipe's own code, so a changed recipe rebuilds) ----

# A debootstrapped Debian with Node and npm, imported as an image (no Dockerfile: there is
# no base image to start FROM).
build_node_base() {
  local ref=$1 rootfs
  command -v debootstrap >/dev/null || {
    apt-cache show debootstrap >/dev/null 2>&1 || apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap
  }
  rootfs=$(mktemp -d "$dir/rootfs.XXXXXX")
  debootstrap --variant=minbase "$IMAGE_DEBIAN_RELEASE" "$rootfs" "${SERVERIMAGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' - "$ref"
  rm -rf "$rootfs"
}

# The repo's Dockerfile. BuildKit for the CA secret: the engine's own (Debian's) CLI has it
# built in, a newer CLI only through its buildx plugin.
build_operator() {
  local ref=$1 cli=docker ca
  if ! docker buildx version >/dev/null 2>&1; then
    [ -x /usr/bin/docker ] || { echo "no BuildKit client: install docker-buildx, or Debian's docker.io for /usr/bin/docker"; return 1; }
    cli=/usr/bin/docker
  fi
  # npm inside the build trusts what npm trusts here (a proxy that re-signs TLS has its own CA).
  ca=$(npm config get cafile 2>/dev/null || true)
  [ -f "$ca" ] || ca=${NODE_EXTRA_CA_CERTS:-}
  local secret=(); [ -z "$ca" ] || [ ! -f "$ca" ] || secret=(--secret "id=npm-ca,src=$ca")
  DOCKER_BUILDKIT=1 "$cli" build --progress=plain --network host --build-arg "BASE=$(ref_of node-base)" \
    "${secret[@]}" -t "$ref" "$root"
}

# cmd/virt-exportserver/Containerfile of KubeVirt: the binary at /usr/bin/virt-exportserver,
# /.version, /etc/passwd with nonroot-user 1001, USER 1001, the binary as entrypoint (on a
# distroless base; the binary is static, so a root fs of those files and /tmp does).
build_exporter() {
  local ref=$1 rootfs bin
  bin=$(bash "$here/build-tools.sh" virt-exportserver)/virt-exportserver
  rootfs=$(mktemp -d "$dir/rootfs.XXXXXX")
  mkdir -p "$rootfs/usr/bin" "$rootfs/etc" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  install -m 0755 "$(readlink -f "$bin")" "$rootfs/usr/bin/virt-exportserver"
  echo "$KUBEVIRT_VERSION" >"$rootfs/.version"
  echo 'nonroot-user:x:1001:1001:nonroot user:/home/nonroot-user:/sbin/nologin' >"$rootfs/etc/passwd"
  echo 'nonroot-user:x:1001:' >"$rootfs/etc/group"
  tar -C "$rootfs" --owner=0 --group=0 -c . | docker import --change 'USER 1001' \
    --change 'ENTRYPOINT ["/usr/bin/virt-exportserver"]' - "$ref"
  rm -rf "$rootfs"
}

# What registry.k8s.io/pause holds: one static binary as the entrypoint, user 65535.
build_pause() {
  local ref=$1 rootfs bin
  bin=$(bash "$here/build-tools.sh" pause)/pause
  rootfs=$(mktemp -d "$dir/rootfs.XXXXXX")
  install -m 0755 "$(readlink -f "$bin")" "$rootfs/pause"
  tar -C "$rootfs" --owner=0 --group=0 -c . | docker import --change 'USER 65535:65535' \
    --change 'ENTRYPOINT ["/pause"]' - "$ref"
  rm -rf "$rootfs"
}

# CoreDNS's Dockerfile: /coredns on distroless static (nonroot), USER nonroot, ENTRYPOINT
# /coredns. Its file capability for port 53 is not kept (docker import takes no xattrs):
# the bed's Pod sets the safe sysctl net.ipv4.ip_unprivileged_port_start=0 instead.
build_coredns() {
  local ref=$1 rootfs bin
  bin=$(bash "$here/build-tools.sh" coredns)/coredns
  rootfs=$(mktemp -d "$dir/rootfs.XXXXXX")
  mkdir -p "$rootfs/etc" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  install -m 0755 "$(readlink -f "$bin")" "$rootfs/coredns"
  echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
  echo 'nonroot:x:65532:' >"$rootfs/etc/group"
  tar -C "$rootfs" --owner=0 --group=0 -c . | docker import --change 'USER 65532:65532' \
    --change 'ENTRYPOINT ["/coredns"]' - "$ref"
  rm -rf "$rootfs"
}

# ---- keys ----
hash() { sha256sum | cut -c1-16; }
declare -A keys
compute_key() {
  case $1 in
    # The Node binary by version and size: hashing 120 MB would cost every warm run.
    node-base) { declare -f build_node_base; echo "$IMAGE_DEBIAN_RELEASE"; "$node_bin" --version
      stat -c %s "$node_bin"; sed -n 's/^ *"version": *"\(.*\)".*/\1/p' "$npm_dir/package.json" | head -1; } | hash ;;
    # What the Dockerfile's build context holds (.dockerignore lets in only these).
    operator) { declare -f build_operator; echo "${keys[node-base]}"
      cd "$root" && find Dockerfile .dockerignore package.json package-lock.json tsconfig.json \
        tsconfig.build.json src -type f -print0 | sort -z | xargs -0 sha256sum; } | hash ;;
    exporter) { declare -f build_exporter; echo "$KUBEVIRT_VERSION"; } | hash ;;
    pause) { declare -f build_pause; cat "$here/pause/main.go"; } | hash ;;
    coredns) { declare -f build_coredns; echo "$COREDNS_VERSION"; } | hash ;;
  esac
}
for i in "${images[@]}"; do keys[$i]=$(compute_key "$i"); done
key_of() { echo "${keys[$1]}"; }
ref_of() { echo "serverimage-testbed/$1:$(key_of "$1")"; }
tarball_of() { echo "$dir/$1-$(key_of "$1").tar"; }
in_engine() { docker image inspect "$(ref_of "$1")" >/dev/null 2>&1; }
print_refs() { for i in "${images[@]}"; do echo "$i=$(ref_of "$i")"; done; }

# Fast path, without the lock: every image is in the engine and saved.
ready() { in_engine "$1" && [ -f "$(tarball_of "$1")" ]; }
missing=()
for i in "${images[@]}"; do ready "$i" || missing+=("$i"); done
if [ ${#missing[@]} -eq 0 ]; then print_refs; exit 0; fi

exec 9>"$dir/.lock"
if ! flock -n 9; then say "waiting for another build (lock $dir/.lock)"; flock 9; fi
# A root fs left by a build that failed or was killed (under the lock, none is in use).
rm -rf "$dir"/rootfs.*

ticker=
start_ticker() {
  local what=$1 since; since=$(date +%s)
  (
    trap - ERR
    trap 'kill "$nap" 2>/dev/null || true; exit 0' TERM
    while :; do
      sleep 30 & nap=$!
      wait "$nap" || true
      say "still building $what: $(($(date +%s) - since)) s so far"
    done
  ) >/dev/null &
  ticker=$!
}
stop_ticker() { [ -z "$ticker" ] || kill "$ticker" 2>/dev/null || true; ticker=; }
on_error() { stop_ticker; say "FAILED; last lines of $log:"; tail -n 40 "$log" | sed 's/^/  /' >&2; }
trap on_error ERR
: >"$log"

# Keeps the three newest tarballs of an image (other checkouts may want theirs) and drops
# from the engine the tags whose tarball went.
prune() {
  local name=$1 old
  # shellcheck disable=SC2012 # names are ours, no odd characters
  for old in $(ls -t "$dir/$name"-*.tar 2>/dev/null | tail -n +4); do
    rm -f "$old"
    old=${old##*/}; old=${old%.tar}
    docker rmi "serverimage-testbed/$name:${old#"$name"-}" >>"$log" 2>&1 || true
  done
}

total=$SECONDS
made=() loaded=()
for i in "${missing[@]}"; do
  ref=$(ref_of "$i") tarball=$(tarball_of "$i")
  if ! in_engine "$i" && [ -f "$tarball" ]; then
    say "loading $ref from $tarball"
    docker load -i "$tarball" >>"$log" 2>&1
    loaded+=("$i")
  fi
  if ! in_engine "$i"; then
    start=$SECONDS
    say "building $ref"
    printf '\n=== %s %s\n' "$i" "$ref" >>"$log"
    start_ticker "$i"
    "build_${i//-/_}" "$ref" >>"$log" 2>&1
    stop_ticker
    say "built $i in $((SECONDS - start)) s"
    made+=("$i")
  fi
  if [ ! -f "$tarball" ]; then
    docker save -o "$tarball.tmp" "$ref" >>"$log" 2>&1
    mv "$tarball.tmp" "$tarball"
    prune "$i"
  fi
done
say "${#made[@]} built in $((SECONDS - total)) s (${made[*]:-none}), ${#loaded[@]} loaded from their tarballs; $((${#images[@]} - ${#made[@]} - ${#loaded[@]})) already there; log $log"
print_refs
