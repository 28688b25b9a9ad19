//go:build tools

// Package tools pins the control-plane binaries the testbed builds (kube-apiserver, etcd).
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
