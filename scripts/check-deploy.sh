#!/usr/bin/env bash
# Checks the deployment files without Docker or a cluster (neither runs on the development
# machine): the Kubernetes manifests in deploy/k8s/ against the Kubernetes API schemas
# (kubernetes-validate, strict: unknown fields fail), and docker-compose.yml as YAML with the
# services and health checks it must have; the Prometheus alert rules with promtool (syntax, and
# their unit tests in deploy/prometheus/alerts.test.yml) when it is installed (Debian package
# `prometheus`; scripts/test.sh installs it), and the rules and the Grafana dashboard naming only
# series plauder exposes; the data directory (attachments and the VAPID key) in the Dockerfile, the
# production config, compose and Kubernetes (see below). The checker lives in a cached virtualenv
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

# The data directory, in every deployment form: the image makes its WORKDIR the data directory,
# owned by the runtime user and a VOLUME (else, with a relative attachments.directory or none
# writable, the server cannot start: the runtime user may not write /); production's
# attachments.directory is absolute and inside it; the compose instances share one named volume
# there (one store, one VAPID key); the Kubernetes pods, on a read-only root file system, mount a
# writable volume there and, being several, keep files in S3 and read one VAPID key.
"$venv/bin/python" - <<'PY'
import re, sys, tomllib, yaml
problems = []
docker = open("Dockerfile").read()
runtime = docker.rsplit("\nFROM ", 1)[-1]
def last(instr):
    found = re.findall(rf"^{instr}\s+(\S+)", runtime, re.M)
    return found[-1] if found else None
workdir, volume, user = last("WORKDIR"), last("VOLUME"), last("USER")
if not workdir or not workdir.startswith("/") or workdir == "/":
    problems.append(f"Dockerfile: the runtime image's WORKDIR is {workdir!r}, not a data directory")
if volume != workdir:
    problems.append(f"Dockerfile: VOLUME {volume!r} is not the WORKDIR {workdir!r}")
owned = re.search(rf"(install -d -o {user}\b[^\n]*\s{re.escape(workdir or '?')}\b|chown [^\n]*{user}[^\n]*\s{re.escape(workdir or '?')}\b)", runtime)
if not user or not owned:
    problems.append(f"Dockerfile: the WORKDIR {workdir!r} is not made and owned by the runtime user {user!r}")
prod = tomllib.load(open("config/production.toml", "rb"))
directory = prod.get("attachments", {}).get("directory", "")
if not directory.startswith("/"):
    problems.append(f"config/production.toml: attachments.directory {directory!r} is not absolute")
elif workdir and not (directory + "/").startswith(workdir.rstrip("/") + "/"):
    problems.append(f"config/production.toml: attachments.directory {directory} is outside the image's data directory {workdir}")

compose = yaml.safe_load(open("docker-compose.yml"))
instances = [n for n in compose["services"] if re.fullmatch(r"plauder\d+", n)]
mounts = set()
for name in instances:
    vols = [v for v in compose["services"][name].get("volumes", []) if isinstance(v, str) and v.split(":")[1:2] == [workdir]]
    if not vols:
        problems.append(f"docker-compose.yml: {name} mounts no volume at {workdir}")
    mounts.update(v.split(":")[0] for v in vols)
if len(mounts) > 1:
    problems.append(f"docker-compose.yml: the instances mount different volumes at {workdir}: {sorted(mounts)}")
for m in mounts:
    if m not in (compose.get("volumes") or {}):
        problems.append(f"docker-compose.yml: {m} is not a named volume (top-level volumes)")

deployment = yaml.safe_load(open("deploy/k8s/deployment.yaml"))
spec = deployment["spec"]["template"]["spec"]
volumes = {v["name"]: v for v in spec.get("volumes", [])}
for c in spec["containers"]:
    env = {e["name"]: e for e in c.get("env", [])}
    at = [m for m in c.get("volumeMounts", []) if m["mountPath"] == workdir and not m.get("readOnly")]
    if not at or at[0]["name"] not in volumes:
        problems.append(f"deploy/k8s/deployment.yaml: {c['name']} mounts no writable volume at {workdir}")
    if deployment["spec"].get("replicas", 1) > 1:
        if env.get("PLAUDER__ATTACHMENTS__STORE", {}).get("value") != "s3":
            problems.append("deploy/k8s/deployment.yaml: several replicas without attachments.store = s3")
        if "PLAUDER__ATTACHMENTS__S3__BUCKET" not in env:
            problems.append("deploy/k8s/deployment.yaml: no S3 bucket from the Secret")
        key = env.get("PLAUDER__PUSH__VAPID_KEY_FILE", {}).get("value", "")
        mounted = [m for m in c.get("volumeMounts", []) if key.startswith(m["mountPath"].rstrip("/") + "/")]
        if not mounted or "secret" not in volumes.get(mounted[0]["name"], {}):
            problems.append("deploy/k8s/deployment.yaml: several replicas without one VAPID key from the Secret")
secret = yaml.safe_load(open("deploy/k8s/secret.example.yaml"))["stringData"]
for e in spec["containers"][0].get("env", []):
    ref = e.get("valueFrom", {}).get("secretKeyRef")
    if ref and ref["key"] not in secret:
        problems.append(f"deploy/k8s/secret.example.yaml: no {ref['key']} (the Deployment reads it)")
for v in volumes.values():
    for item in v.get("secret", {}).get("items", []):
        if item["key"] not in secret:
            problems.append(f"deploy/k8s/secret.example.yaml: no {item['key']} (the Deployment mounts it)")
if problems:
    sys.exit("check-deploy: " + "; ".join(problems))
print(f"check-deploy: data directory {workdir}: the image's WORKDIR and VOLUME, owned by {user}; "
      f"production's attachments.directory {directory}; one compose volume; k8s writable, S3 and one VAPID key")
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
