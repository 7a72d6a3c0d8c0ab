#!/usr/bin/env bash
# Renders every kustomization under deploy/kubernetes with `kubectl kustomize` and validates each object
# against the Kubernetes JSON schemas from the npm registry (kubernetes-models, and
# @kubernetes-models/prometheus-operator for ServiceMonitor/PrometheusRule; test/helpers/k8s-schemas.ts).
# Needs `npm ci` first. Installs kubectl from Debian (kubernetes-client, kubectl 1.20 with kustomize
# v2.0.3) when there is none: the kustomizations are written for v2.0.3 and newer, so any kubectl works.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kubectl > /dev/null; then
  echo "== installing kubectl (Debian kubernetes-client)"
  apt-get update -qq > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client > /dev/null
fi
echo "== $(kubectl version --client 2>/dev/null | head -n 2 | tr '\n' ' ')"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

render() { # name dir
  # kustomize v5 warns on stderr that `bases`/`patchesStrategicMerge` are deprecated (kept for v2.0.3).
  kubectl kustomize "$2" > "$out/$1.yaml" 2> "$out/$1.err" || { cat "$out/$1.err" >&2; echo "kubectl kustomize $2 failed" >&2; exit 1; }
  grep -v "is deprecated" "$out/$1.err" >&2 || true
}

render sqlite deploy/kubernetes/overlays/sqlite
render postgres-ha deploy/kubernetes/overlays/postgres-ha
render monitoring deploy/kubernetes/monitoring
render with-existing-secrets deploy/kubernetes/with-existing-secrets

# The secretGenerator example reads files that are never in git: render a copy with stand-in files.
cp -r deploy/kubernetes "$out/k8s"
gen="$out/k8s/with-generated-secrets"
mkdir -p "$gen/secrets/paris"
printf 'stand-in token\n' > "$gen/secrets/paris/token.p7m"
printf 'stand-in key\n' > "$gen/secrets/paris/key.pem"
printf 'webhook-secret=stand-in\napi-token=stand-in\n' > "$gen/secrets/api.env"
printf 'url=postgres://depctl:stand-in@postgres.example.internal:5432/depctl\n' > "$gen/secrets/postgres.env"
render with-generated-secrets "$gen"

node --import tsx test/helpers/k8s-schemas.ts "$out"/{sqlite,postgres-ha,monitoring,with-existing-secrets,with-generated-secrets}.yaml
