#!/usr/bin/env bash
# Checks the deployment files without Docker or a cluster (neither runs on the development
# machine): the Kubernetes manifests in deploy/k8s/ against the Kubernetes API schemas
# (kubernetes-validate, strict: unknown fields fail), and docker-compose.yml as YAML with the
# services and health checks it must have; the Prometheus alert rules with promtool (syntax, and
# their unit tests in deploy/prometheus/alerts.test.yml) when it is installed (Debian package
# `prometheus`; scripts/test.sh installs it), and the rules and the Grafana dashboard naming only
# series plauder exposes. The checker lives in a cached virtualenv
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

if command -v promtool >/dev/null; then
    promtool check rules deploy/prometheus/alerts.yml >/dev/null
    promtool test rules deploy/prometheus/alerts.test.yml >/dev/null
    echo "check-deploy: alert rules valid and their tests pass (promtool)"
else
    echo "check-deploy: promtool not installed: alert rules checked for structure and names only" >&2
fi

"$venv/bin/python" - <<'PY'
import json, re, sys, yaml
# The series plauder exposes: every name described in src/metrics.rs, and metrics-process's.
source = open("src/metrics.rs").read()
known = {"plauder_" + n for n in re.findall(r'describe_(?:counter|gauge|histogram)!\(\s*"(\w+)"', source)}
known |= {"plauder_process_" + n for n in ["cpu_seconds_total", "open_fds", "max_fds", "virtual_memory_bytes",
          "virtual_memory_max_bytes", "resident_memory_bytes", "start_time_seconds", "threads"]}
problems = []
def names(where, expr):
    for name in re.findall(r"\bplauder_\w+", expr):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in known and base not in known:
            problems.append(f"{where}: {name} is not a series plauder exposes")

rules = yaml.safe_load(open("deploy/prometheus/alerts.yml"))
count = 0
for group in rules["groups"]:
    for rule in group["rules"]:
        count += 1
        if not rule.get("alert") or not rule.get("expr") or "summary" not in rule.get("annotations", {}):
            problems.append(f"alerts.yml: a rule without alert, expr or summary: {rule}")
        names(f"alerts.yml {rule.get('alert')}", rule.get("expr", ""))

dash = json.load(open("deploy/grafana/plauder-dashboard.json"))
panels = [p for p in dash["panels"] if p["type"] != "row"]
for panel in panels:
    if not panel.get("targets"):
        problems.append(f"dashboard: panel {panel['title']!r} has no query")
    for target in panel.get("targets", []):
        names(f"dashboard {panel['title']!r}", target["expr"])
if problems:
    sys.exit("check-deploy: " + "; ".join(problems))
print(f"check-deploy: {count} alert rules and {len(panels)} dashboard panels name only series plauder exposes")
PY

# deploy/nginx.conf as nginx itself reads it (`nginx -t`), with a throw-away certificate at the
# paths to fill in and the compose service names pointed at this machine.
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
if [ -x "$nginx_bin" ] && command -v openssl >/dev/null; then
    work="$(mktemp -d "${TMPDIR:-/tmp}/plauder-nginx-check.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
        -keyout "$work/privkey.pem" -out "$work/fullchain.pem" >/dev/null 2>&1
    grep -q 'Strict-Transport-Security' deploy/nginx.conf || { echo "check-deploy: nginx.conf sends no HSTS" >&2; exit 1; }
    sed -e "s|/etc/nginx/tls/|$work/|g" -e 's/plauder[12]:8080/127.0.0.1:8080/' deploy/nginx.conf >"$work/nginx.conf"
    if ! "$nginx_bin" -t -q -e stderr -p "$work" -c "$work/nginx.conf" -g "pid $work/nginx.pid;"; then
        echo "check-deploy: deploy/nginx.conf does not pass nginx -t" >&2
        exit 1
    fi
    echo "check-deploy: deploy/nginx.conf passes nginx -t (TLS, HSTS)"
else
    echo "check-deploy: nginx not installed: deploy/nginx.conf not checked" >&2
fi
