#!/usr/bin/env bash
# Builds the testbed's real binaries (kube-apiserver, etcd, kubectl, helm, kubeconform) from the
# Go module proxy into a cache directory outside the clone, keyed on the pinned versions and
# go.sum files. A warm cache makes this a no-op. Prints the bin directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
source "$here/versions.env"
cache=${PGVIP_CACHE:-/var/cache/pgvip}
key=$(cat "$here/versions.env" "$here/build.sh" "$here/kube/go.sum" "$here/tools/go.sum" "$here/kube/cmd/kubectl/main.go" | sha256sum | cut -c1-16)
bin="$cache/bin-$key"
want=(kube-apiserver etcd kubectl helm kubeconform)
have=1
for b in "${want[@]}"; do [ -x "$bin/$b" ] || have=0; done
if [ "$have" = 1 ]; then echo "$bin"; exit 0; fi

mkdir -p "$bin.tmp"
export CGO_ENABLED=0 GOFLAGS="-mod=mod -trimpath"
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kv=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kv+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  kv+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
done
t0=$(date +%s)
(cd "$here/kube" &&
  go build -ldflags "-s -w $kv" -o "$bin.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2 &&
  go build -ldflags "-s -w $kv" -o "$bin.tmp/kubectl" ./cmd/kubectl >&2 &&
  go build -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}" -o "$bin.tmp/etcd" go.etcd.io/etcd/server/v3 >&2)
(cd "$here/tools" &&
  go build -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    -o "$bin.tmp/helm" helm.sh/helm/v3/cmd/helm >&2 &&
  go build -ldflags "-s -w -X main.version=$KUBECONFORM_VERSION" -o "$bin.tmp/kubeconform" github.com/yannh/kubeconform/cmd/kubeconform >&2)
rm -rf "$bin" && mv "$bin.tmp" "$bin"
# Drop binaries of older pins so the cache does not grow without bound.
for old in "$cache"/bin-*; do [ "$old" = "$bin" ] || rm -rf "$old"; done
echo "built Go binaries in $(( $(date +%s) - t0 ))s into $bin" >&2
echo "$bin"
