#!/usr/bin/env bash
# Renders and lints helm/isengard with Helm's Go library (PyPI package
# helm-python-sdk, no helm binary needed) and checks the manifests; see
# scripts/check-helm.py. Extra arguments go to it (e.g. --smoke target/release/isengard).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${ISENGARD_HELM_VENV:-$HOME/.cache/isengard/helm-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import helm_python, yaml' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet helm-python-sdk==0.2.2 pyyaml
fi
exec "$venv/bin/python" scripts/check-helm.py "$@"
