#!/usr/bin/env python3
"""Renders helm/isengard with Helm's own template engine and checks the result.

Helm comes from the `helm-python-sdk` package (PyPI), which ships Helm's Go
library (render and lint, offline): `scripts/check-helm.sh` installs it in a
virtualenv and runs this. Checked, for several sets of values:
  - `helm lint --strict` finds nothing;
  - every manifest is valid YAML of the expected kinds;
  - replicas: 3 -> a 3-pod StatefulSet, Members naming every pod's stable DNS
    name under the headless Service, GrpcListen 0.0.0.0:4300, replicated blobs,
    one volume claim per pod, node id and advertised address set per pod;
  - replicas: 1 -> the single-node default (no Cluster section, no blob mode);
  - the shared mode: the S3 Url, credentials from the Secret;
  - invalid values (shared without a Url, more copies than pods) fail to render.
With `--smoke BIN`, also runs the pod's command with `BIN` as `isengard` and
HOSTNAME=isengard-1 on the rendered configuration, and checks from its log that
it starts as node 2 advertising its DNS name (it then waits for the others).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml
from helm_python import chart as helm_chart

CHART = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helm", "isengard")
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print(f"FAIL {what}")


def render(values=None):
    chart = helm_chart.Chart.load(CHART)
    manifests = chart.render(values=values or {}, name="isengard", namespace="pacs")
    docs = {}
    for path, text in manifests.items():
        for doc in yaml.safe_load_all(text):
            if doc:
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def config_of(docs):
    return json.loads(docs[("ConfigMap", "isengard-config")]["data"]["isengard.json"])


def container_of(docs):
    return docs[("StatefulSet", "isengard")]["spec"]["template"]["spec"]["containers"][0]


def env_names(container):
    return {e["name"] for e in container.get("env", [])}


def check_lint():
    report = helm_chart.lint(CHART, strict=True)
    messages = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    check(not messages and not report.get("errors"), f"helm lint --strict: {messages} {report.get('errors')}")


def check_default():
    docs = render()
    kinds = sorted(k for k, _ in docs)
    check(kinds == ["ConfigMap", "Service", "Service", "StatefulSet"], f"kinds {kinds}")
    sts = docs[("StatefulSet", "isengard")]
    check(sts["spec"]["replicas"] == 3, "3 replicas by default")
    check(sts["spec"]["serviceName"] == "isengard-headless", "the headless Service governs the pods")
    claims = sts["spec"]["volumeClaimTemplates"]
    check(len(claims) == 1 and claims[0]["metadata"]["name"] == "data", "one volume claim per pod")
    headless = docs[("Service", "isengard-headless")]
    check(headless["spec"]["clusterIP"] == "None", "headless Service")
    check(headless["spec"].get("publishNotReadyAddresses") is True, "pods resolvable before they are ready")
    client = docs[("Service", "isengard")]
    check(sorted(p["port"] for p in client["spec"]["ports"]) == [4242, 8042], "client Service on 8042 and 4242")
    config = config_of(docs)
    cluster = config["Isengard"]["Cluster"]
    check(cluster["GrpcListen"] == "0.0.0.0:4300", "GrpcListen")
    expected = {str(i + 1): f"isengard-{i}.isengard-headless.pacs.svc.cluster.local:4300" for i in range(3)}
    check(cluster["Members"] == expected, f"Members {cluster['Members']}")
    check("NodeId" not in cluster, "NodeId comes from the environment, not the shared file")
    check(config["Isengard"]["Blobs"] == {"Mode": "replicated"}, f"replicated by default: {config['Isengard']['Blobs']}")
    check(config["Isengard"]["HttpBind"] == "0.0.0.0", "user configuration kept")
    container = container_of(docs)
    script = container["args"][0]
    check('ISENGARD_CLUSTER_NODE_ID="$((ordinal + 1))"' in script, "node id = ordinal + 1")
    check("${HOSTNAME}.isengard-headless.pacs.svc.cluster.local:4300" in script, "advertised DNS name")
    check(script.strip().endswith("exec isengard /etc/isengard/isengard.json"), "exec isengard")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    check(ports == {"http": 8042, "dicom": 4242, "grpc": 4300}, f"container ports {ports}")
    for probe in ("readinessProbe", "livenessProbe"):
        command = container[probe].get("exec", {}).get("command", [])
        check(command[:3] == ["isengard", "cluster", "status"], f"{probe} asks GET /cluster (no quorum needed)")
    check({"ISENGARD_USER", "ISENGARD_PASSWORD", "ISENGARD_REGISTERED_USERS"} <= env_names(container), "probe credentials")
    check("AWS_ACCESS_KEY_ID" not in env_names(container), "no S3 credentials in the replicated mode")
    return docs


def check_single_node():
    docs = render({"replicas": 1})
    config = config_of(docs)
    check("Cluster" not in config["Isengard"], "replicas 1: no Cluster section")
    check("Blobs" not in config["Isengard"], "replicas 1: the single-node blob default")
    check(docs[("StatefulSet", "isengard")]["spec"]["replicas"] == 1, "replicas 1")
    docs = render({"replicas": 5, "blobs": {"replicas": 3, "repairInterval": 120}})
    config = config_of(docs)
    check(len(config["Isengard"]["Cluster"]["Members"]) == 5, "5 members")
    check(config["Isengard"]["Blobs"] == {"Mode": "replicated", "Replicas": 3, "RepairInterval": 120}, "blob values")


def check_shared_and_auth():
    docs = render({
        "blobs": {"mode": "shared", "s3": {"url": "s3://pacs/isengard", "endpoint": "http://minio:9000"}},
        "config": {"AuthenticationEnabled": False},
    })
    config = config_of(docs)
    check(config["Isengard"]["Blobs"] == {"Url": "s3://pacs/isengard"}, f"shared: {config['Isengard']['Blobs']}")
    container = container_of(docs)
    env = {e["name"]: e for e in container["env"]}
    check(env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "isengard-s3", "S3 secret")
    check(env["AWS_ENDPOINT"]["value"] == "http://minio:9000", "S3 endpoint")
    check("ISENGARD_USER" not in env, "no probe user without authentication")
    check(container["readinessProbe"]["httpGet"]["path"] == "/system", "without authentication: GET /system")


def check_refusals():
    for values, what in [
        ({"blobs": {"mode": "shared"}}, "shared without a Url"),
        ({"blobs": {"replicas": 4}}, "more copies than pods"),
        ({"blobs": {"mode": "mirrored"}}, "an unknown blob mode"),
        ({"replicas": 0}, "no pod"),
    ]:
        try:
            render(values)
            check(False, f"{what} must not render")
        except Exception as e:  # HelmRenderError
            print(f"ok   refused {what}: {str(e).splitlines()[0][:120]}")


def smoke(binary):
    """The pod command of isengard-1 on the rendered configuration."""
    docs = render()
    config = config_of(docs)
    script = container_of(docs)["args"][0].replace("exec isengard ", f"exec {binary} ")
    work = tempfile.mkdtemp(prefix="check-helm-")
    try:
        path = os.path.join(work, "isengard.json")
        config["Isengard"]["Cluster"]["GrpcListen"] = "127.0.0.1:0"
        with open(path, "w") as f:
            json.dump(config, f)
        script = script.replace("/etc/isengard/isengard.json", path)
        env = dict(os.environ, HOSTNAME="isengard-1", ISENGARD_HTTP_PORT="0", ISENGARD_DICOM_PORT="0",
                   ISENGARD_STORAGE_DIRECTORY=os.path.join(work, "data"), ISENGARD_REGISTERED_USERS="probe:secret")
        log = open(os.path.join(work, "log.txt"), "w+")
        node = subprocess.Popen(["/bin/sh", "-c", script], env=env, stdout=log, stderr=subprocess.STDOUT)
        wanted = "node=2 advertise=isengard-1.isengard-headless.pacs.svc.cluster.local:4300"
        deadline = time.time() + 30
        text = ""
        while time.time() < deadline and wanted not in text and node.poll() is None:
            time.sleep(0.2)
            log.seek(0)
            text = log.read()
        check(wanted in text, f"pod isengard-1 starts as node 2 advertising its DNS name; log:\n{text[-2000:]}")
        # The probe: `isengard cluster status` succeeds on a node that belongs
        # to no cluster yet (no quorum needed), with the probe user.
        addr = text.split("isengard is serving the REST API addr=")[-1].split()[0] if "REST API addr=" in text else ""
        probe = container_of(docs)["readinessProbe"]["exec"]["command"]
        probe = [binary] + probe[1:-1] + [f"http://{addr}"]
        answer = subprocess.run(probe, env=dict(os.environ, ISENGARD_USER="probe", ISENGARD_PASSWORD="secret"),
                                capture_output=True, text=True, timeout=30)
        check(answer.returncode == 0, f"the probe {probe} on a forming cluster: {answer.stdout}{answer.stderr}")
        wrong = subprocess.run(probe, env=dict(os.environ, ISENGARD_USER="probe", ISENGARD_PASSWORD="wrong"),
                               capture_output=True, text=True, timeout=30)
        check(wrong.returncode != 0, "the probe fails with a wrong password")
        node.kill()
        node.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    check_lint()
    check_default()
    check_single_node()
    check_shared_and_auth()
    check_refusals()
    if len(sys.argv) == 3 and sys.argv[1] == "--smoke":
        smoke(sys.argv[2])
    if failures:
        print(f"check-helm: {len(failures)} failed")
        sys.exit(1)
    print("check-helm: the chart renders and every check passed")


if __name__ == "__main__":
    main()
