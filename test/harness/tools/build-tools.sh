#!/usr/bin/env bash
# Builds the real parts of the test bed at the versions pinned in versions.env, into a
# cache folder outside the repo: from the Go module proxy etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy, CoreDNS, the CNCF Distribution registry, crane, helm,
# KubeVirt's virt-exportserver and virt-controller, external-snapshotter's snapshot-controller,
# CDI's cdi-importer and kubevirt-crds (our printer of KubeVirt's, CDI's
# and external-snapshotter's own CRDs); from Debian's archive qemu-img (which cdi-importer
# runs), unpacked, not installed; when named, the real CSI hostpath driver and its sidecars
# (external-provisioner, external-snapshotter's csi-snapshotter, node-driver-registrar). Each tool is built once; later runs find it and return
# at once. Prints the bin folder on stdout; on stderr one line per tool built, with its
# time, and a summary. The Go downloader's output goes to a log in the cache, whose tail
# is printed when a build fails. Bench-only tools (kopia, restic: the peers of the
# incremental backup bench) are built only when named, so a test run never pays for them.
#
#   build-tools.sh [TOOL...]   only these tools (default: all but the bench-only ones), e.g. the demo's five
#   SERVERIMAGE_TOOLS_CACHE    cache root (default ~/.cache/serverimage-operator/tools)
set -eEuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${SERVERIMAGE_TOOLS_CACHE:-$HOME/.cache/serverimage-operator/tools}
bin="$cache/bin"
log="$cache/build.log"
mkdir -p "$bin"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

all_tools=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl registry crane helm
  kubevirt-crds virt-exportserver virt-controller snapshot-controller cdi-importer qemu-img kubelet
  kube-proxy coredns)
# Built only when asked for: build-images.sh's pause image, and the bench-only peers of
# the incremental backup bench (test/bench/incremental.bench.ts).
# KubeVirt's node side (virt-handler, virt-launcher and what their images hold) and virt-api:
# only for build-images.sh's virt-handler, virt-launcher and virt-api images, which only the
# real-VM test builds.
kubevirt_node_tools=(virt-handler virt-chroot virt-launcher-monitor virt-freezer virt-probe virt-tail
  container-disk virt-launcher virt-api)
# The real CSI driver of the real node (only for build-images.sh's csi-hostpath image).
csi_tools=(hostpathplugin csi-provisioner csi-snapshotter node-driver-registrar)
# CDI's controller: only for the real-CDI bed (build-images.sh's cdi-importer image is its importer).
extra_tools=(pause kopia restic "${kubevirt_node_tools[@]}" "${csi_tools[@]}" cdi-controller)
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=("${all_tools[@]}")

say() { printf '[build-tools] %s\n' "$*" >&2; }
for t in "${tools[@]}"; do
  case " ${all_tools[*]} ${extra_tools[*]} " in *" $t "*) ;; *) say "unknown tool $t (known: ${all_tools[*]} ${extra_tools[*]})"; exit 2 ;; esac
done

# kubevirt-crds is our source: its file carries the source's hash (taken once, up front).
crds_source=$(sha256sum <"$here/kubevirt-crds/main.go" | cut -c1-8)

# The version a tool's file carries: a new version (or, for kubevirt-crds, a change of its
# source) builds a new file beside the old one.
version_of() {
  case $1 in
    etcd) echo "$ETCD_VERSION" ;;
    # "-stamped": built with the version in its binary (below), as a release is.
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet | kube-proxy) echo "$KUBERNETES_VERSION-stamped" ;;
    coredns) echo "$COREDNS_VERSION" ;;
    pause) echo "$(sha256sum <"$here/pause/main.go" | cut -c1-8)" ;;
    registry) echo "$DISTRIBUTION_VERSION" ;;
    crane) echo "$CRANE_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    virt-exportserver | virt-controller) echo "$KUBEVIRT_VERSION" ;;
    virt-handler | virt-chroot | virt-launcher-monitor | virt-freezer | virt-probe | virt-tail | container-disk | virt-api)
      echo "$KUBEVIRT_VERSION" ;;
    # Linked against the libvirt of the launcher image's Debian release.
    virt-launcher) echo "$KUBEVIRT_VERSION-$VM_DEBIAN_RELEASE" ;;
    cdi-importer | cdi-controller) echo "$CDI_VERSION" ;;
    snapshot-controller | csi-snapshotter) echo "$SNAPSHOTTER_VERSION" ;;
    hostpathplugin) echo "$CSI_HOSTPATH_VERSION" ;;
    csi-provisioner) echo "$CSI_PROVISIONER_VERSION" ;;
    node-driver-registrar) echo "$NODE_DRIVER_REGISTRAR_VERSION" ;;
    kubevirt-crds)
      echo "$KUBEVIRT_VERSION-$CDI_VERSION-$SNAPSHOTTER_VERSION-$crds_source" ;;
    qemu-img) echo "$QEMU_DEBIAN_RELEASE" ;;
    kopia) echo "$KOPIA_VERSION" ;;
    restic) echo "$RESTIC_VERSION" ;;
  esac
}
built() { [ -x "$bin/$1-$(version_of "$1")" ]; }

# Fast path, without the lock: everything asked for is there.
missing=()
for t in "${tools[@]}"; do built "$t" || missing+=("$t"); done
link_all() { for t in "${tools[@]}"; do ln -sfn "$t-$(version_of "$t")" "$bin/$t"; done; }
if [ ${#missing[@]} -eq 0 ]; then link_all; echo "$bin"; exit 0; fi

# One build at a time: parallel test processes wait here for the first one's build.
exec 9>"$cache/.lock"
if ! flock -n 9; then say "waiting for another build (lock $cache/.lock)"; flock 9; fi

# A line every 30 s while a tool builds (a cold virt-controller takes ten minutes on 2
# cores): whoever waits sees it is not stuck. Stopped after each tool, and on failure.
ticker=
start_ticker() {
  local t=$1 since; since=$(date +%s)
  # Its own sleep goes with it (a sleep left behind would hold our stdout open), and it
  # writes only to stderr: stdout is the bin folder the caller reads.
  (
    trap - ERR
    trap 'kill "$nap" 2>/dev/null || true; exit 0' TERM
    while :; do
      sleep 30 & nap=$!
      wait "$nap" || true
      say "still building $t: $(($(date +%s) - since)) s so far"
    done
  ) >/dev/null &
  ticker=$!
}
stop_ticker() { [ -z "$ticker" ] || kill "$ticker" 2>/dev/null || true; ticker=; }

# A failed step prints the log's tail: the Go downloader's hundreds of lines stay there.
on_error() { stop_ticker; say "FAILED; last lines of $log:"; tail -n 40 "$log" | sed 's/^/  /' >&2; }
trap on_error ERR
: >"$log"

# Directory of a module in the module cache (downloaded if needed).
mod_dir() { (cd /tmp && go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); }

# A wrapper module that requires REQUIRE ("module@version") with extra go.mod lines,
# and optionally starts its go.sum from another module's (see the kubevirt_* helpers).
# new_module DIR NAME REQUIRE [extra go.mod lines] [go.sum to copy]
new_module() {
  local dir=$1 name=$2 require=$3 extra=${4:-} sum=${5:-}
  printf 'module serverimage.io/testbed/%s\n\ngo 1.24\n\nrequire %s\n%s\n' \
    "$name" "${require/@/ }" "$extra" >"$dir/go.mod"
  [ -z "$sum" ] || cp "$sum" "$dir/go.sum"
}

# go_build NAME DIR PACKAGE: tidies the module in DIR and builds PACKAGE as NAME-VERSION.
# A pinned version the proxy does not have makes tidy pick another one: refused, since
# the file would carry the wrong version.
go_build() {
  local name=$1 dir=$2 pkg=$3 out; out="$bin/$1-$(version_of "$1")"
  local pinned; pinned=$(sed -n 's/^require \(\S*\) \(\S*\)$/\1@\2/p' "$dir/go.mod")
  (cd "$dir" && { go mod tidy -e || true; } &&
    { got=$(go list -m -f '{{.Path}}@{{.Version}}' "${pinned%@*}"); [ "$got" = "$pinned" ] ||
      { echo "wanted $pinned, the module graph has $got"; false; }; } &&
    go build -trimpath -ldflags="-s ${extra_ldflags:-}" -o "$out.tmp" "$pkg") >>"$log" 2>&1
  mv "$out.tmp" "$out"
}

# build NAME MODULE@VERSION PACKAGE [extra go.mod lines] [go.sum to copy]: a tool that is
# a package of a published module, built through a wrapper module importing it.
build() {
  local name=$1 require=$2 pkg=$3 extra=${4:-} sum=${5:-}
  local dir; dir=$(mktemp -d)
  new_module "$dir" "$name" "$require" "$extra" "$sum"
  printf 'package tools\n\nimport _ "%s"\n' "$pkg" >"$dir/tools.go"
  go_build "$name" "$dir" "$pkg"
  rm -rf "$dir"
}

# kube-apiserver and kubectl live in k8s.io/kubernetes, whose go.mod points its
# staging modules at ./staging; replace each with the published v0.Y.Z.
kube_replaces() {
  local staging="v0${KUBERNETES_VERSION#v1}"
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 '"$staging"'#p' \
    "$(mod_dir "k8s.io/kubernetes@$KUBERNETES_VERSION")/go.mod"
}

# KubeVirt's and CDI's go.mod files pin k8s.io/* (and a few others) in a replace block,
# which binds only their own builds: a wrapper copies the block, minus the ./staging lines
# (each replaced by its published module at the same tag), and points libguestfs.org/libnbd
# (cgo, not on the proxy) at our pure-Go stub.
# project_replaces MODULE_DIR "staging-module => published@version ..."
project_replaces() {
  local gomod="$1/go.mod"; shift
  echo 'replace ('
  sed -n '/^replace (/,/^)/{/^replace (/d;/^)/d;/=> \.\/staging/d;/^\s*$/d;p}' "$gomod"
  for r in "$@"; do echo "	${r%@*} ${r##*@}"; done
  echo '	libguestfs.org/libnbd => ./libnbd-stub'
  echo ')'
}
kubevirt_replaces() {
  project_replaces "$1" "kubevirt.io/api => kubevirt.io/api@$KUBEVIRT_VERSION" \
    "kubevirt.io/client-go => kubevirt.io/client-go@$KUBEVIRT_VERSION"
}

# A wrapper module for KubeVirt: its replaces, the stub, and KubeVirt's own go.sum (the
# checksum database has no entry for one of its dependencies).
kubevirt_module() {
  local dir=$1 name=$2 kv; kv=$(mod_dir "kubevirt.io/kubevirt@$KUBEVIRT_VERSION")
  new_module "$dir" "$name" "kubevirt.io/kubevirt@$KUBEVIRT_VERSION" "$(kubevirt_replaces "$kv")" "$kv/go.sum"
  cp -r "$here/libnbd-stub" "$dir/libnbd-stub"
}

# build_kubevirt NAME: KubeVirt's cmd/NAME (virt-exportserver, virt-controller).
build_kubevirt() {
  local dir; dir=$(mktemp -d)
  kubevirt_module "$dir" "$1"
  printf 'package tools\n\nimport _ "kubevirt.io/kubevirt/cmd/%s"\n' "$1" >"$dir/tools.go"
  go_build "$1" "$dir" "kubevirt.io/kubevirt/cmd/$1"
  rm -rf "$dir"
}

# virt-handler's node labeller includes <linux/kvm.h> (cgo, no library); the other Go
# programs of KubeVirt's node images are pure Go.
build_kubevirt_node() {
  local cgo=0; [ "$1" != virt-handler ] || cgo=1
  CGO_ENABLED=$cgo build_kubevirt "$1"
}

# container-disk: the C program KubeVirt runs in a containerDisk's container (it keeps a
# socket open so virt-handler finds the container's root), linked static like KubeVirt's.
build_container_disk() {
  local out; out="$bin/container-disk-$(version_of container-disk)"
  gcc -static -O2 -o "$out.tmp" "$(mod_dir "kubevirt.io/kubevirt@$KUBEVIRT_VERSION")/cmd/container-disk-v2alpha/main.c" >>"$log" 2>&1
  mv "$out.tmp" "$out"
}

# A Debian root of VM_DEBIAN_RELEASE with gcc and libvirt-dev, kept in the cache: virt-launcher
# is cgo against libvirt, so it is built against the libvirt its image runs (the host's
# release may have another). A chroot, not a container: no engine is needed for tools.
launcher_build_root() {
  local broot="$cache/launcher-build/$VM_DEBIAN_RELEASE"
  if [ ! -f "$broot/.ready" ]; then
    command -v debootstrap >/dev/null || {
      apt-cache show debootstrap >/dev/null 2>&1 || apt-get update >>"$log" 2>&1
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >>"$log" 2>&1
    }
    rm -rf "$broot" && mkdir -p "$broot"
    debootstrap --variant=minbase "$VM_DEBIAN_RELEASE" "$broot" "${SERVERIMAGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >>"$log" 2>&1
    cp /etc/resolv.conf "$broot/etc/resolv.conf"
    in_root "$broot" sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev pkg-config libvirt-dev && apt-get clean' >>"$log" 2>&1
    touch "$broot/.ready"
  fi
  echo "$broot"
}
# in_root ROOT CMD...: CMD chrooted in ROOT with /proc, /dev, the host's Go, module and build
# caches and the bin folder bound in; the mounts go with the private mount namespace.
in_root() {
  local broot=$1; shift
  local gomod gocache; gomod=$(go env GOMODCACHE) gocache=$(go env GOCACHE)
  mkdir -p "$broot/usr/local/go" "$broot/$gomod" "$broot/$gocache" "$broot/out"
  unshare --mount --fork sh -ec '
    r=$1 gomod=$2 gocache=$3 goroot=$4 out=$5; shift 5
    mount --make-rprivate /
    mount --bind /proc "$r/proc"; mount --rbind /dev "$r/dev"
    mount --bind "$goroot" "$r/usr/local/go"; mount --bind "$gomod" "$r/$gomod"
    mount --bind "$gocache" "$r/$gocache"; mount --bind "$out" "$r/out"
    exec chroot "$r" env -i PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
      GOMODCACHE="$gomod" GOCACHE="$gocache" GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local "$@"
  ' sh "$broot" "$gomod" "$gocache" "$(go env GOROOT)" "$bin" "$@"
}

# virt-launcher: the wrapper module is tidied on the host (the proxy is reached from here),
# then built in the build root against its libvirt-dev with the modules already downloaded.
build_virt_launcher() {
  local broot dir name out; broot=$(launcher_build_root)
  dir=$(mktemp -d "$broot/tmp/virt-launcher.XXXXXX"); name=virt-launcher-$(version_of virt-launcher)
  kubevirt_module "$dir" virt-launcher
  printf 'package tools\n\nimport _ "kubevirt.io/kubevirt/cmd/virt-launcher"\n' >"$dir/tools.go"
  (cd "$dir" && { go mod tidy -e || true; } && go mod download) >>"$log" 2>&1
  in_root "$broot" sh -c "cd /tmp/${dir##*/} && CGO_ENABLED=1 go build -trimpath -ldflags=-s -o /out/$name.tmp kubevirt.io/kubevirt/cmd/virt-launcher" >>"$log" 2>&1
  mv "$bin/$name.tmp" "$bin/$name"
  rm -rf "$dir"
}

# snapshot-controller: external-snapshotter's go.mod pins k8s.io/* in replace lines (copied)
# and points its client module at ./client, which is not in the published module: the
# client of the same tag (the one whose CRDs the bed installs) stands in for it.
snapshotter_replaces() {
  grep '^replace k8s.io/' "$1/go.mod"
  echo "replace github.com/kubernetes-csi/external-snapshotter/client/v8 => github.com/kubernetes-csi/external-snapshotter/client/v8 $SNAPSHOTTER_VERSION"
}
build_snapshot_controller() {
  local snap; snap=$(mod_dir "github.com/kubernetes-csi/external-snapshotter/v8@$SNAPSHOTTER_VERSION")
  build snapshot-controller "github.com/kubernetes-csi/external-snapshotter/v8@$SNAPSHOTTER_VERSION" \
    github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller "$(snapshotter_replaces "$snap")" "$snap/go.sum"
}

# csi-snapshotter: the CSI driver's snapshot sidecar, from the same module as snapshot-controller.
build_csi_snapshotter() {
  local snap; snap=$(mod_dir "github.com/kubernetes-csi/external-snapshotter/v8@$SNAPSHOTTER_VERSION")
  extra_ldflags="-X main.version=$SNAPSHOTTER_VERSION" build csi-snapshotter \
    "github.com/kubernetes-csi/external-snapshotter/v8@$SNAPSHOTTER_VERSION" \
    github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter "$(snapshotter_replaces "$snap")" "$snap/go.sum"
}

# csi-provisioner: external-provisioner's go.mod pins k8s.io/* in replace lines (copied).
build_csi_provisioner() {
  local prov; prov=$(mod_dir "github.com/kubernetes-csi/external-provisioner/v6@$CSI_PROVISIONER_VERSION")
  extra_ldflags="-X main.version=$CSI_PROVISIONER_VERSION" build csi-provisioner \
    "github.com/kubernetes-csi/external-provisioner/v6@$CSI_PROVISIONER_VERSION" \
    github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner "$(grep '^replace ' "$prov/go.mod")" "$prov/go.sum"
}

# build_copied NAME FOLDER PACKAGE: a tool the Go module proxy does not serve (kubernetes-csi's
# hostpath driver; node-driver-registrar, whose v2 tags lack the /v2 module suffix), from
# the copy of its release's own Go source in third-party/FOLDER (see its README),
# built outside the repo (the build may rewrite go.mod) with its dependencies from the proxy.
build_copied() {
  local name=$1 src=$2 pkg=$3 dir out version copied
  version=$(version_of "$name")
  out="$bin/$name-$version"
  read -r copied _ <"$here/third-party/$src/RELEASE"
  if [[ $copied != "$version" ]]; then
    say "third-party/$src holds $copied's source, but versions.env asks for $version: copy that release's source (third-party/README.md)"
    return 1
  fi
  dir=$(mktemp -d)
  cp -r "$here/third-party/$src/." "$dir"
  (cd "$dir" && go build -trimpath -ldflags="-s -X main.version=$version" -o "$out.tmp" "$pkg") >>"$log" 2>&1
  mv "$out.tmp" "$out"
  rm -rf "$dir"
}

# cdi-importer (and cdi-controller): CDI's module with its replaces, its go.sum, and the
# libnbd stub (the importer compiles against libnbd only for its VMware VDDK source).
build_cdi() {
  local tool=${1:-cdi-importer} dir cdi; dir=$(mktemp -d); cdi=$(mod_dir "kubevirt.io/containerized-data-importer@$CDI_VERSION")
  new_module "$dir" "$tool" "kubevirt.io/containerized-data-importer@$CDI_VERSION" \
    "$(project_replaces "$cdi" "kubevirt.io/containerized-data-importer-api => kubevirt.io/containerized-data-importer-api@$CDI_VERSION")" \
    "$cdi/go.sum"
  cp -r "$here/libnbd-stub" "$dir/libnbd-stub"
  printf 'package tools\n\nimport _ "kubevirt.io/containerized-data-importer/cmd/%s"\n' "$tool" >"$dir/tools.go"
  go_build "$tool" "$dir" "kubevirt.io/containerized-data-importer/cmd/$tool"
  rm -rf "$dir"
}

# kubevirt-crds: our main.go in a KubeVirt wrapper module, with CDI's generated CRD file
# (a package with no imports, copied rather than required: CDI's module graph would move
# KubeVirt's dependencies) and external-snapshotter's CRD YAMLs beside it for go:embed.
build_kubevirt_crds() {
  local dir cdi snap; dir=$(mktemp -d)
  cdi=$(mod_dir "kubevirt.io/containerized-data-importer@$CDI_VERSION")
  snap=$(mod_dir "github.com/kubernetes-csi/external-snapshotter/client/v8@$SNAPSHOTTER_VERSION")
  kubevirt_module "$dir" kubevirt-crds
  cp "$here/kubevirt-crds/main.go" "$dir/main.go"
  mkdir "$dir/cdicrds" "$dir/snapshot-crds"
  cp "$cdi/pkg/operator/resources/crds_generated.go" "$dir/cdicrds/"
  cp "$snap"/config/crd/snapshot.storage.k8s.io_*.yaml "$dir/snapshot-crds/"
  chmod -R u+w "$dir"
  go_build kubevirt-crds "$dir" .
  rm -rf "$dir"
}

# qemu-img from Debian's qemu-utils and the libraries it needs that a base system lacks,
# unpacked into the cache (nothing installed); a wrapper sets LD_LIBRARY_PATH.
build_qemu_img() {
  local root="$cache/qemu/$QEMU_DEBIAN_RELEASE" deb codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  if [ "$codename" != "$QEMU_DEBIAN_RELEASE" ]; then
    echo "qemu-img: this is Debian '$codename', versions.env expects $QEMU_DEBIAN_RELEASE (package names differ)" >>"$log"
    false
  fi
  deb=$(mktemp -d)
  apt-cache show qemu-utils >/dev/null 2>&1 || apt-get update >>"$log" 2>&1
  (cd "$deb" && apt-get download qemu-utils libaio1 liburing2 libfuse3-3) >>"$log" 2>&1
  rm -rf "$root" && mkdir -p "$root"
  for f in "$deb"/*.deb; do dpkg-deb -x "$f" "$root"; echo "unpacked $(basename "$f")" >>"$log"; done
  rm -rf "$deb"
  local libs="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu"
  if LD_LIBRARY_PATH=$libs ldd "$root/usr/bin/qemu-img" | grep 'not found' >>"$log"; then false; fi
  printf '#!/bin/sh\n# qemu-img unpacked from Debian packages by build-tools.sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
    "$libs" "$root/usr/bin/qemu-img" >"$bin/qemu-img-$QEMU_DEBIAN_RELEASE"
  chmod +x "$bin/qemu-img-$QEMU_DEBIAN_RELEASE"
  "$bin/qemu-img-$QEMU_DEBIAN_RELEASE" --version >>"$log"
}

# pause: tools/pause/main.go, a static program with no dependencies.
build_pause() {
  local dir; dir=$(mktemp -d)
  printf 'module serverimage.io/testbed/pause\n\ngo 1.24\n' >"$dir/go.mod"
  cp "$here/pause/main.go" "$dir/main.go"
  local out; out="$bin/pause-$(version_of pause)"
  (cd "$dir" && go build -trimpath -ldflags=-s -o "$out.tmp" .) >>"$log" 2>&1
  mv "$out.tmp" "$out"
  rm -rf "$dir"
}

# What Kubernetes' own release build stamps into its binaries: without it /version answers
# v0.0.0-master, which a chart's kubeVersion constraint refuses (helm install) and
# kubectl and the Node's kubeletVersion would show.
kube_minor=${KUBERNETES_VERSION#v1.}; kube_minor=${kube_minor%%.*}
kube_ldflags=
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor -X $pkg.gitTreeState=clean"
done

need_kube=
for t in "${missing[@]}"; do case $t in kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet | kube-proxy) need_kube=1 ;; esac; done
replaces=; [ -z "$need_kube" ] || replaces=$(kube_replaces)

build_one() {
  case $1 in
    etcd) build etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION" go.etcd.io/etcd/server/v3 ;;
    kube-apiserver | kubectl) extra_ldflags=$kube_ldflags build "$1" "k8s.io/kubernetes@$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/$1" "$replaces" ;;
    # Its ClusterRole aggregation controller (install-rbac.test.ts); the real-controller bed's
    # garbage collector, PV controller and protection controllers (kubevirt/real/).
    kube-controller-manager) extra_ldflags=$kube_ldflags build "$1" "k8s.io/kubernetes@$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/$1" "$replaces" ;;
    # Binds the exporter Pods virt-controller creates to the bed's Node (test/harness/kubevirt/kubelet).
    kube-scheduler) extra_ldflags=$kube_ldflags build "$1" "k8s.io/kubernetes@$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/$1" "$replaces" ;;
    # The bed's real node: runs Pods through containerd's CRI plugin (test/harness/node/).
    kubelet) extra_ldflags=$kube_ldflags build "$1" "k8s.io/kubernetes@$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/kubelet" "$replaces" ;;
    # The real node's Services: cluster IPs as iptables rules (test/harness/node/kube-proxy.ts).
    kube-proxy) extra_ldflags=$kube_ldflags build "$1" "k8s.io/kubernetes@$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/kube-proxy" "$replaces" ;;
    # The real node's cluster DNS, as a Pod there (the module's own main package, all its plugins).
    coredns) build coredns "github.com/coredns/coredns@$COREDNS_VERSION" github.com/coredns/coredns ;;
    # The Pod sandbox's process: our own, since no registry serves registry.k8s.io/pause.
    pause) build_pause ;;
    registry) build registry "github.com/distribution/distribution/v3@$DISTRIBUTION_VERSION" github.com/distribution/distribution/v3/cmd/registry ;;
    crane) build crane "github.com/google/go-containerregistry@$CRANE_VERSION" github.com/google/go-containerregistry/cmd/crane ;;
    helm) build helm "helm.sh/helm/v4@$HELM_VERSION" helm.sh/helm/v4/cmd/helm ;;
    virt-exportserver | virt-controller) build_kubevirt "$1" ;;
    # The real node's KubeVirt (build-images.sh's virt-handler and virt-launcher images).
    virt-handler | virt-chroot | virt-launcher-monitor | virt-freezer | virt-probe | virt-tail | virt-api) build_kubevirt_node "$1" ;;
    container-disk) build_container_disk ;;
    virt-launcher) build_virt_launcher ;;
    # VolumeSnapshot -> VolumeSnapshotContent -> readyToUse, with the simulator as CSI driver.
    snapshot-controller) build_snapshot_controller ;;
    # The real CSI driver on the real node (build-images.sh's csi-hostpath image).
    csi-snapshotter) build_csi_snapshotter ;;
    csi-provisioner) build_csi_provisioner ;;
    hostpathplugin) build_copied hostpathplugin csi-driver-host-path ./cmd/hostpathplugin ;;
    node-driver-registrar) build_copied node-driver-registrar node-driver-registrar ./cmd/csi-node-driver-registrar ;;
    cdi-importer) build_cdi cdi-importer ;;
    # The real CDI controller of the real-CDI bed (kubevirt/real/cdi-controller.ts).
    cdi-controller) build_cdi cdi-controller ;;
    kubevirt-crds) build_kubevirt_crds ;;
    qemu-img) build_qemu_img ;;
    # Bench-only: the incremental backup bench's peers (the module's own main package).
    kopia) build kopia "github.com/kopia/kopia@$KOPIA_VERSION" github.com/kopia/kopia ;;
    restic) build restic "github.com/restic/restic@$RESTIC_VERSION" github.com/restic/restic/cmd/restic ;;
  esac
}

say "building ${missing[*]} (minutes each when cold; Go's output goes to $log)"
made=()
total=$SECONDS
for t in "${missing[@]}"; do
  built "$t" && continue # another process built it while we waited for the lock
  start=$SECONDS
  printf '\n=== %s %s\n' "$t" "$(version_of "$t")" >>"$log"
  say "building $t $(version_of "$t")"
  start_ticker "$t"
  build_one "$t"
  stop_ticker
  say "built $t $(version_of "$t") in $((SECONDS - start)) s"
  made+=("$t")
done
link_all
say "${#made[@]} built in $((SECONDS - total)) s (${made[*]:-none}); $((${#tools[@]} - ${#made[@]})) already there; log $log"
echo "$bin"
