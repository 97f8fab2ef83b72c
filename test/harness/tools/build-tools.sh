#!/usr/bin/env bash
# Builds the real parts of the test bed (etcd, kube-apiserver, kube-controller-manager,
# kubectl, the CNCF Distribution registry, crane and helm) from the Go module proxy, at
# the versions pinned in versions.env, into a cache folder outside the repo. Each tool is
# built once; later runs find it and return at once. Prints the bin folder on stdout.
#
#   SERVERIMAGE_TOOLS_CACHE  cache root (default ~/.cache/serverimage-operator/tools)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${SERVERIMAGE_TOOLS_CACHE:-$HOME/.cache/serverimage-operator/tools}
bin="$cache/bin"
mkdir -p "$bin"
# One build at a time: parallel test processes wait here for the first one's build.
exec 9>"$cache/.lock"
flock 9
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

say() { printf '[build-tools] %s\n' "$*" >&2; }

# build NAME VERSION MODULE@VERSION PACKAGE [extra go.mod lines]
build() {
  local name=$1 version=$2 require=$3 pkg=$4 extra=${5:-}
  local out="$bin/$name-$version"
  if [ -x "$out" ]; then ln -sf "$name-$version" "$bin/$name"; return; fi
  say "building $name $version (once; this takes a few minutes)"
  local dir; dir=$(mktemp -d)
  trap 'rm -rf "$dir"' RETURN
  printf 'module serverimage.io/testbed/%s\n\ngo 1.24\n\nrequire %s\n%s\n' \
    "$name" "${require/@/ }" "$extra" >"$dir/go.mod"
  printf 'package tools\n\nimport _ "%s"\n' "$pkg" >"$dir/tools.go"
  (cd "$dir" && go mod tidy >&2 2>&1 | sed 's/^/  /' >&2 || true
   go build -trimpath -ldflags=-s -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  ln -sf "$name-$version" "$bin/$name"
  say "built $out"
}

# kube-apiserver and kubectl live in k8s.io/kubernetes, whose go.mod points its
# staging modules at ./staging; replace each with the published v0.Y.Z.
kube_replaces() {
  local gomod
  gomod=$(cd /tmp && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
    sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local staging="v0${KUBERNETES_VERSION#v1}"
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 '"$staging"'#p' "$gomod"
}

need_kube=
for t in kube-apiserver kube-controller-manager kubectl; do [ -x "$bin/$t-$KUBERNETES_VERSION" ] || need_kube=1; done
replaces=; [ -z "$need_kube" ] || replaces=$(kube_replaces)

build etcd "$ETCD_VERSION" "go.etcd.io/etcd/server/v3@$ETCD_VERSION" go.etcd.io/etcd/server/v3
build kube-apiserver "$KUBERNETES_VERSION" "k8s.io/kubernetes@$KUBERNETES_VERSION" k8s.io/kubernetes/cmd/kube-apiserver "$replaces"
# Only for its ClusterRole aggregation controller (test/integration/install-rbac.test.ts).
build kube-controller-manager "$KUBERNETES_VERSION" "k8s.io/kubernetes@$KUBERNETES_VERSION" k8s.io/kubernetes/cmd/kube-controller-manager "$replaces"
build kubectl "$KUBERNETES_VERSION" "k8s.io/kubernetes@$KUBERNETES_VERSION" k8s.io/kubernetes/cmd/kubectl "$replaces"
build registry "$DISTRIBUTION_VERSION" "github.com/distribution/distribution/v3@$DISTRIBUTION_VERSION" github.com/distribution/distribution/v3/cmd/registry
build crane "$CRANE_VERSION" "github.com/google/go-containerregistry@$CRANE_VERSION" github.com/google/go-containerregistry/cmd/crane
build helm "$HELM_VERSION" "helm.sh/helm/v4@$HELM_VERSION" helm.sh/helm/v4/cmd/helm
echo "$bin"
