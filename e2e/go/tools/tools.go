//go:build tools

// Package tools pins the CLI tools the testbed builds (helm, kubeconform).
package tools

import (
	_ "github.com/yannh/kubeconform/cmd/kubeconform"
	_ "helm.sh/helm/v3/cmd/helm"
)
