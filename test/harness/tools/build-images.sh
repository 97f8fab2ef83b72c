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
#   vm-base, virt-launcher, virt-handler, vm-guest, virt-api  KubeVirt's node side and virt-api
#              for real VMs (see their recipes); built only when named, since only the real-VM
#              test uses them
#   cdi-importer  CDI's importer image for the real CDI controller's importer Pods (real VMs)
#   csi-hostpath  kubernetes-csi's hostpath CSI driver with its sidecars (external-provisioner,
#              csi-snapshotter, node-driver-registrar), on vm-base; for real VMs too
# Each image is tagged serverimage-testbed/NAME:KEY, KEY a hash of its inputs (for the
# operator: the Dockerfile, package files and src/), and saved as a tarball in
# $cache/images (for runtimes other than the engine's, and to reload after the engine's
# storage is wiped). A warm run finds every image and returns at once. Prints NAME=REF
# lines on stdout; on stderr one line per image built, with its time, and a line every 30 s
# while one builds. Build output goes to $cache/images/build.log, whose tail is printed
# when a build fails.
#
#   build-images.sh [IMAGE...]  only these images (default: all but the real-VM ones)
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
# The caller's stderr, kept as $caller_stderr: a recipe runs with its output in the log, and a
# failure inside it must still be said where the person running this looks.
exec {caller_stderr}>&2
say() { printf '[build-images] %s\n' "$*" >&"$caller_stderr"; }

default_images=(node-base operator exporter pause coredns)
# Real VMs: minutes of apt and Go builds, so only the test that runs them asks for them.
vm_images=(vm-base virt-launcher virt-handler vm-guest virt-api csi-hostpath cdi-importer)
all_images=("${default_images[@]}" "${vm_images[@]}")
images=("$@")
[ ${#images[@]} -gt 0 ] || images=("${default_images[@]}")
for i in "${images[@]}"; do
  case " ${all_images[*]} " in *" $i "*) ;; *) say "unknown image $i (known: ${all_images[*]})"; exit 2 ;; esac
done
# In build order; the operator image is built on node-base, KubeVirt's and the guest's on vm-base.
case " ${images[*]} " in *" operator "*) images+=(node-base) ;; esac
case " ${images[*]} " in *" virt-launcher "* | *" virt-handler "* | *" vm-guest "* | *" csi-hostpath "* | *" cdi-importer "*) images+=(vm-base) ;; esac
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

# KubeVirt's images of one static Go binary (cmd/virt-exportserver/Containerfile, virt-api's
# BUILD.bazel virt-api-image): the binary at /usr/bin/NAME, /.version, /etc/passwd with
# nonroot-user 1001, USER 1001, the binary as entrypoint (on a distroless base; the binary
# is static, so a root fs of those files and /tmp does: virt-api makes a folder there at start).
build_kubevirt_binary_image() {
  local name=$1 ref=$2 rootfs bin
  bin=$(bash "$here/build-tools.sh" "$name")/$name
  rootfs=$(mktemp -d "$dir/rootfs.XXXXXX")
  mkdir -p "$rootfs/usr/bin" "$rootfs/etc" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  install -m 0755 "$(readlink -f "$bin")" "$rootfs/usr/bin/$name"
  echo "$KUBEVIRT_VERSION" >"$rootfs/.version"
  echo 'nonroot-user:x:1001:1001:nonroot user:/home/nonroot-user:/sbin/nologin' >"$rootfs/etc/passwd"
  echo 'nonroot-user:x:1001:' >"$rootfs/etc/group"
  tar -C "$rootfs" --owner=0 --group=0 -c . | docker import --change 'USER 1001' \
    --change "ENTRYPOINT [\"/usr/bin/$name\"]" - "$ref"
  rm -rf "$rootfs"
}

build_exporter() { build_kubevirt_binary_image virt-exportserver "$1"; }

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

build_virt_api() { build_kubevirt_binary_image virt-api "$1"; }

# Debian's minimal root fs of VM_DEBIAN_RELEASE (the release whose libvirt and QEMU are
# nearest KubeVirt's; virt-launcher is linked against its libvirt by build-tools.sh).
build_vm_base() {
  local ref=$1 rootfs
  command -v debootstrap >/dev/null || {
    apt-cache show debootstrap >/dev/null 2>&1 || apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap
  }
  rootfs=$(mktemp -d "$dir/rootfs.XXXXXX")
  debootstrap --variant=minbase "$VM_DEBIAN_RELEASE" "$rootfs" "${SERVERIMAGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$ref"
  rm -rf "$rootfs"
}

# docker_build REF CONTEXT: CONTEXT/Dockerfile FROM vm-base, with apt from the host's network.
docker_build() { docker build --network host --build-arg "BASE=$(ref_of vm-base)" -t "$1" "$2"; }
apt_install='apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends'

# KubeVirt's virt-launcher image (cmd/virt-launcher/BUILD.bazel) from Debian's packages in
# place of its CentOS Stream RPMs: the launcher's binaries in /usr/bin (virt-launcher-monitor
# with cap_net_bind_service), node-labeller.sh, KubeVirt's qemu.conf, virtqemud.conf,
# nsswitch.conf and qemu hook, the qemu user 107. Adapted: Debian ships only the monolithic
# libvirtd, so /usr/sbin/virtqemud (which virt-launcher runs) is a script running libvirtd
# whose socket it also names virtqemud-sock; QEMU is /usr/bin/qemu-system-x86_64, which
# libvirt finds on PATH (KubeVirt's is /usr/libexec/qemu-kvm; its domains name no emulator).
build_virt_launcher() {
  local ref=$1 ctx kv bins; ctx=$(mktemp -d "$dir/rootfs.XXXXXX")
  bins=$(bash "$here/build-tools.sh" virt-launcher virt-launcher-monitor container-disk virt-freezer virt-probe virt-tail)
  kv=$(cd /tmp && go mod download -json "kubevirt.io/kubevirt@$KUBEVIRT_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  mkdir -p "$ctx/bin" "$ctx/etc"
  for b in virt-launcher virt-launcher-monitor container-disk virt-freezer virt-probe virt-tail; do
    install -m 0755 "$(readlink -f "$bins/$b")" "$ctx/bin/$b"
  done
  install -m 0755 "$kv/cmd/virt-launcher/node-labeller/node-labeller.sh" "$ctx/bin/"
  install -m 0644 "$kv/cmd/virt-launcher/qemu.conf" "$kv/cmd/virt-launcher/virtqemud.conf" \
    "$kv/cmd/virt-launcher/nsswitch.conf" "$ctx/etc/"
  install -m 0755 "$kv/cmd/virt-launcher/qemu" "$ctx/etc/qemu-hook"
  echo "$KUBEVIRT_VERSION" >"$ctx/etc/version"
  cat >"$ctx/virtqemud" <<'SCRIPT'
#!/bin/sh
# virt-launcher runs virtqemud, the modular QEMU daemon; Debian ships libvirt's monolithic
# libvirtd, which serves the same qemu driver on libvirt-sock. The launcher (as non-root)
# connects to virtqemud-sock in the same folder: a link to libvirtd's socket.
run=/run/libvirt
[ "$(id -u)" = 0 ] || run=${XDG_RUNTIME_DIR:-/run}/libvirt
mkdir -p "$run" && ln -sfn libvirt-sock "$run/virtqemud-sock"
exec /usr/sbin/libvirtd "$@"
SCRIPT
  cat >"$ctx/Dockerfile" <<DOCKERFILE
ARG BASE
FROM \$BASE
RUN $apt_install libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-log libvirt-clients \\
      qemu-system-x86 qemu-utils libcap2-bin procps iproute2 nftables \\
    && apt-get clean && rm -rf /var/lib/apt/lists/* \\
    && (getent group qemu || groupadd -g 107 qemu) && (getent passwd qemu || useradd -u 107 -g 107 -d /home/qemu -s /bin/bash qemu) \\
    && mkdir -p /usr/lib64/qemu-kvm /etc/libvirt/hooks
COPY bin/ /usr/bin/
COPY etc/qemu.conf etc/virtqemud.conf /etc/libvirt/
COPY etc/nsswitch.conf /etc/nsswitch.conf
COPY --chown=107:107 etc/qemu-hook /etc/libvirt/hooks/qemu
COPY etc/version /.version
COPY virtqemud /usr/sbin/virtqemud
RUN chmod 0755 /usr/sbin/virtqemud && setcap cap_net_bind_service+ep /usr/bin/virt-launcher-monitor
ENTRYPOINT ["/usr/bin/virt-launcher"]
DOCKERFILE
  docker_build "$ref" "$ctx"
  rm -rf "$ctx"
}

# KubeVirt's virt-handler image (cmd/virt-handler/BUILD.bazel, rpm handlerbase): virt-handler
# and virt-chroot in /usr/bin, with Debian's counterparts of the tools of its base
# (util-linux, iproute, nftables, procps, qemu-img, xorriso), and its qemu user (107), to
# which it hands a non-root VMI's sockets.
build_virt_handler() {
  local ref=$1 ctx bins; ctx=$(mktemp -d "$dir/rootfs.XXXXXX")
  bins=$(bash "$here/build-tools.sh" virt-handler virt-chroot)
  mkdir -p "$ctx/bin"
  install -m 0755 "$(readlink -f "$bins/virt-handler")" "$(readlink -f "$bins/virt-chroot")" "$ctx/bin/"
  mv "$ctx/bin/virt-handler-$KUBEVIRT_VERSION" "$ctx/bin/virt-handler"
  mv "$ctx/bin/virt-chroot-$KUBEVIRT_VERSION" "$ctx/bin/virt-chroot"
  echo "$KUBEVIRT_VERSION" >"$ctx/version"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
ARG BASE
FROM \$BASE
RUN $apt_install util-linux mount iproute2 nftables procps qemu-utils xorriso \\
    && apt-get clean && rm -rf /var/lib/apt/lists/* \\
    && groupadd -g 107 qemu && useradd -u 107 -g 107 -d /home/qemu -s /sbin/nologin qemu
COPY bin/ /usr/bin/
COPY version /.version
ENTRYPOINT ["/usr/bin/virt-handler"]
DOCKERFILE
  docker_build "$ref" "$ctx"
  rm -rf "$ctx"
}

# CDI's importer image (cmd/cdi-importer/BUILD.bazel cdi-importer-image): cdi-importer in
# /usr/bin as the entrypoint with -alsologtostderr, qemu-img (Debian's qemu-utils in place
# of its CentOS Stream one), CA certificates; CDI's importer Pods run it as uid 107.
build_cdi_importer() {
  local ref=$1 ctx bin; ctx=$(mktemp -d "$dir/rootfs.XXXXXX")
  bin=$(bash "$here/build-tools.sh" cdi-importer)/cdi-importer
  install -m 0755 "$(readlink -f "$bin")" "$ctx/cdi-importer"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
ARG BASE
FROM \$BASE
RUN $apt_install qemu-utils ca-certificates && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY cdi-importer /usr/bin/cdi-importer
USER 1001
ENTRYPOINT ["/usr/bin/cdi-importer", "-alsologtostderr"]
DOCKERFILE
  docker_build "$ref" "$ctx"
  rm -rf "$ctx"
}

# The guest, a containerDisk as kubevirt/containerdisks lays one out (one layer: disk/ 0555
# and disk/disk.img 0444, uid/gid 107, nothing else). The disk boots on its own and is
# partitioned as a server's: an MBR with SYSLINUX's boot code, partition 1 a FAT file system
# with SYSLINUX, Debian's cloud kernel and an initramfs, partition 2 an ext4 file system
# (`data`, the guest's writable disk, which a freeze through the agent freezes). Every file
# system is made in a file of its own and written into the disk at its offset, so no loop
# device or mount is needed. The initramfs: busybox, Debian's qemu-guest-agent with the
# libraries it links, the virtio_blk module (the cloud kernel builds virtio_console and ext4
# in), and an init that mounts /data, names the virtio-serial ports as udev would
# (/dev/virtio-ports/NAME) and keeps the agent running on org.qemu.guest_agent.0, its log on
# the serial console.
build_vm_guest() {
  local ref=$1 out; out=$(mktemp -d "$dir/rootfs.XXXXXX")
  cat >"$out/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mkdir -p /proc /sys /dev /run /tmp /data
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
hostname serverimage-guest
insmod /lib/modules/virtio_blk.ko
i=0; while [ ! -b /dev/vda2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 /dev/vda2 /data || echo "serverimage-guest: no /data" >/dev/ttyS0
echo "serverimage-guest: booted, kernel $(uname -r)" >/dev/ttyS0
# A marker the guest itself writes on its disk on its first boot, printed on every boot:
# a copy of this disk (an image of the VM, a restore) boots with the same id, "found".
if [ -s /data/marker ]; then
  echo "serverimage-guest: marker $(cat /data/marker) (found)" >/dev/ttyS0
else
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >/data/marker && sync
  echo "serverimage-guest: marker $(cat /data/marker) (new)" >/dev/ttyS0
fi
mkdir -p /dev/virtio-ports
for port in /sys/class/virtio-ports/*; do
  [ -f "$port/name" ] && ln -sf "../${port##*/}" "/dev/virtio-ports/$(cat "$port/name")"
done
# The agent's own messages go to the serial console: its errors through -l, and what it
# reports to syslog (a freeze: "guest-fsfreeze called") through busybox's syslogd.
syslogd -O /dev/ttyS0
( while :; do
    /usr/sbin/qemu-ga -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 -l /dev/ttyS0 -t /run
    echo "serverimage-guest: qemu-ga exited ($?), restarting" >/dev/ttyS0; sleep 1
  done ) &
echo "serverimage-guest: qemu-ga started" >/dev/ttyS0
while :; do sleep 3600; done
INIT
  docker run --rm --network host -v "$out:/out" "$(ref_of vm-base)" sh -ec "
    $apt_install busybox-static syslinux syslinux-common mtools dosfstools e2fsprogs fdisk cpio xz-utils qemu-guest-agent
    cd /tmp && apt-get download \$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -1)
    dpkg-deb -x linux-image-*.deb kernel
    mkdir -p initrd/bin initrd/usr/sbin initrd/lib/modules initrd/etc
    cp /bin/busybox initrd/bin/ && install -m 0755 /out/init initrd/init
    cp /usr/sbin/qemu-ga initrd/usr/sbin/
    for lib in \$(ldd /usr/sbin/qemu-ga | grep -o '/[^ ]*'); do mkdir -p initrd\${lib%/*}; cp -L \$lib initrd\$lib; done
    cp -L /etc/os-release initrd/etc/os-release
    xz -dc kernel/usr/lib/modules/*/kernel/drivers/block/virtio_blk.ko.xz >initrd/lib/modules/virtio_blk.ko
    (cd initrd && find . | cpio -o -H newc | gzip -9) >initrd.gz
    # 64 MiB: partition 1 (FAT, bootable) from sector 2048, 32 MiB; partition 2 (ext4) the rest.
    truncate -s 64M /out/disk.img
    printf 'label: dos\nstart=2048, size=65536, type=6, bootable\nstart=67584, type=83\n' | sfdisk -q /out/disk.img
    dd if=/usr/lib/syslinux/mbr/mbr.bin of=/out/disk.img bs=440 count=1 conv=notrunc
    mkfs.fat -C -n GUEST -h 2048 boot.img 32768
    syslinux --install boot.img
    printf 'DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd.gz\n  APPEND console=ttyS0 quiet\n' >syslinux.cfg
    mcopy -i boot.img kernel/boot/vmlinuz-* ::vmlinuz
    mcopy -i boot.img initrd.gz syslinux.cfg ::
    mkdir data && echo 'written when the disk was built' >data/built
    mke2fs -q -t ext4 -L data -d data data.img \$(((131072 - 67584) / 2))k
    dd if=boot.img of=/out/disk.img bs=512 seek=2048 conv=notrunc
    dd if=data.img of=/out/disk.img bs=512 seek=67584 conv=notrunc
    rm /out/init"
  mkdir -p "$out/root/disk"
  mv "$out/disk.img" "$out/root/disk/disk.img"
  chmod 0555 "$out/root/disk"; chmod 0444 "$out/root/disk/disk.img"
  tar -C "$out/root" --owner=107 --group=107 -c disk | docker import - "$ref"
  rm -rf "$out"
}

# kubernetes-csi's images of the hostpath driver and its sidecars, as one image: each of
# upstream's (hostpathplugin on alpine with util-linux, e2fsprogs and tar; the sidecars on
# distroless) puts its binary at /NAME. vm-base (Debian minbase) has what the driver runs:
# mount, findmnt, tar, gzip, cp, dd, fallocate, losetup. The Pod runs each by `command`.
build_csi_hostpath() {
  local ref=$1 rootfs bins
  bins=$(bash "$here/build-tools.sh" hostpathplugin csi-provisioner csi-snapshotter node-driver-registrar)
  rootfs=$(mktemp -d "$dir/rootfs.XXXXXX")
  install -m 0755 "$(readlink -f "$bins/hostpathplugin")" "$rootfs/hostpathplugin"
  install -m 0755 "$(readlink -f "$bins/csi-provisioner")" "$rootfs/csi-provisioner"
  install -m 0755 "$(readlink -f "$bins/csi-snapshotter")" "$rootfs/csi-snapshotter"
  install -m 0755 "$(readlink -f "$bins/node-driver-registrar")" "$rootfs/csi-node-driver-registrar"
  printf 'ARG BASE\nFROM $BASE\nCOPY . /\nENTRYPOINT ["/hostpathplugin"]\n' >"$rootfs/Dockerfile"
  printf 'Dockerfile\n' >"$rootfs/.dockerignore"
  docker_build "$ref" "$rootfs"
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
    exporter) { declare -f build_exporter build_kubevirt_binary_image; echo "$KUBEVIRT_VERSION"; } | hash ;;
    virt-api) { declare -f build_virt_api build_kubevirt_binary_image; echo "$KUBEVIRT_VERSION"; } | hash ;;
    pause) { declare -f build_pause; cat "$here/pause/main.go"; } | hash ;;
    coredns) { declare -f build_coredns; echo "$COREDNS_VERSION"; } | hash ;;
    vm-base) { declare -f build_vm_base; echo "$VM_DEBIAN_RELEASE"; } | hash ;;
    csi-hostpath) { declare -f build_csi_hostpath docker_build; echo "${keys[vm-base]}" "$CSI_HOSTPATH_VERSION"
      echo "$CSI_PROVISIONER_VERSION" "$SNAPSHOTTER_VERSION" "$NODE_DRIVER_REGISTRAR_VERSION"; } | hash ;;
    virt-launcher | virt-handler | vm-guest) { declare -f "build_${1//-/_}" docker_build; echo "$apt_install"
      echo "${keys[vm-base]}" "$KUBEVIRT_VERSION"; } | hash ;;
    cdi-importer) { declare -f build_cdi_importer docker_build; echo "$apt_install"
      echo "${keys[vm-base]}" "$CDI_VERSION"; } | hash ;;
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
# Said once, by the script itself (a failing $(...) inside a recipe runs the trap too).
on_error() { [ "$BASHPID" = "$$" ] || return 0; stop_ticker; say "FAILED; last lines of $log:"; tail -n 40 "$log" | sed 's/^/  /' >&"$caller_stderr"; }
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
