#!/usr/bin/env bash
# Checks the deployment files without Docker or a cluster (neither runs on the development
# machine): the Kubernetes manifests in deploy/k8s/ against the Kubernetes API schemas
# (kubernetes-validate, strict: unknown fields fail), and docker-compose.yml as YAML with the
# services and health checks it must have. The checker lives in a cached virtualenv
# (~/.cache/plauder/deploy-venv), installed from PyPI on first use.
# Exit codes: 0 checked and fine, 1 a file is wrong, 3 the checker could not be installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv="${XDG_CACHE_HOME:-$HOME/.cache}/plauder/deploy-venv"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet 'kubernetes-validate==1.37.0' PyYAML; } >&2; then
        echo "check-deploy: could not install kubernetes-validate" >&2
        exit 3
    fi
fi

manifests=()
for f in deploy/k8s/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
"$venv/bin/kubernetes-validate" --strict --quiet "${manifests[@]}"
echo "check-deploy: ${#manifests[@]} Kubernetes manifests valid (kubernetes-validate --strict, Kubernetes 1.37)"

"$venv/bin/python" - <<'PY'
import sys, yaml
compose = yaml.safe_load(open("docker-compose.yml"))
services = compose["services"]
problems = []
for name in ["postgres", "redis", "plauder1", "plauder2"]:
    if "test" not in (services.get(name, {}).get("healthcheck") or {}):
        problems.append(f"{name}: no health check")
for name in ["migrate", "create-admin"]:
    if name not in services:
        problems.append(f"{name}: missing")
for name in ["plauder1", "plauder2", "create-admin"]:
    if services.get(name, {}).get("depends_on", {}).get("migrate", {}).get("condition") != "service_completed_successfully":
        problems.append(f"{name}: does not wait for the migration")
text = open("docker-compose.yml").read()
for var in ["POSTGRES_PASSWORD", "REDIS_PASSWORD", "PLAUDER_JWT_SECRET"]:
    if "${" + var + ":?" not in text:
        problems.append(f"{var} is not required from the environment (.env)")
if problems:
    sys.exit("check-deploy: docker-compose.yml: " + "; ".join(problems))
print("check-deploy: docker-compose.yml parses, with health checks, migrate and create-admin")
PY
