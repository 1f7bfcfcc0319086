//go:build tools

// Package tools pins the command-line tools that build.sh builds from this module.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
	_ "helm.sh/helm/v4/cmd/helm"
)
