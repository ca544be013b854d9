#!/usr/bin/env python3
"""Record the reference Orthanc's view of pydicom's test files as JSON fixtures.

Starts /usr/sbin/Orthanc (1.10.1) on a free loopback port with a temporary
storage directory, uploads every `.dcm` of pydicom's `test_files` and
`charset_files` one at a time, and writes for each accepted file
`node/tests/fixtures/orthanc/<stem>.json` with:

- `post`: the POST /instances answer (status + IDs);
- `instance`, `series`, `study`, `patient`: GET /{level}/{id} (main tags, ...);
- `tags`, `simplified`, `short`: /instances/{id}/tags, /simplified-tags, /tags?short;
- `header`, `header_simplified`, `header_short`: /instances/{id}/header (+ ?simplify, ?short);
- `metadata`: /instances/{id}/metadata?expand;
- `content`: a sample of /instances/{id}/content/... (listings, and leaf values
  under 1 KiB as base64).

Every instance is deleted after it is recorded, so files sharing UIDs do not
see each other. Refused files go to `node/tests/fixtures/orthanc/index.json`
with their HTTP status and Orthanc's error answer.

Usage: python3 scripts/record-orthanc-fixtures.py   (python3 stdlib only)
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ORTHANC = "/usr/sbin/Orthanc"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "node", "tests", "fixtures", "orthanc")


def pydicom_data_dir():
    out = subprocess.check_output(
        [sys.executable, "-c", "import pydicom,os;print(os.path.dirname(pydicom.__file__))"],
        text=True,
    )
    return os.path.join(out.strip(), "data")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def request(self, method, path, data=None):
        req = urllib.request.Request(self.base + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, path):
        status, body = self.request("GET", path)
        if status != 200:
            raise RuntimeError("GET %s -> %d %r" % (path, status, body[:200]))
        return json.loads(body)


def start_orthanc(tmp):
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "isengard-oracle",
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomServerEnabled": False,
        "StorageDirectory": os.path.join(tmp, "storage"),
        "IndexDirectory": os.path.join(tmp, "storage"),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpServerEnabled": True,
    }
    cfg = os.path.join(tmp, "orthanc.json")
    with open(cfg, "w") as f:
        json.dump(config, f)
    log = open(os.path.join(tmp, "orthanc.log"), "w")
    proc = subprocess.Popen([ORTHANC, cfg], stdout=log, stderr=subprocess.STDOUT)
    client = Client(http_port)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("Orthanc exited, see %s" % log.name)
        try:
            client.json("/system")
            return proc, client
        except Exception:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("Orthanc did not start within 60 s")


def sample_content(client, iid, path="", depth=0, budget=None):
    """Walks /content to depth 3, recording listings and small leaves."""
    if budget is None:
        budget = [400]
    out = {}
    status, body = client.request("GET", "/instances/%s/content%s" % (iid, path))
    budget[0] -= 1
    ctype_json = body[:1] in (b"[",)
    if status != 200:
        out[path or "/"] = {"status": status}
        return out
    if ctype_json:
        children = json.loads(body)
        out[path or "/"] = {"children": children}
        if depth < 3:
            for child in children:
                if budget[0] <= 0:
                    break
                # only the first item of a sequence, to keep fixtures small
                if child.isdigit() and child != "0":
                    continue
                if child == "7fe0-0010":
                    continue
                out.update(sample_content(client, iid, path + "/" + child, depth + 1, budget))
    else:
        if len(body) <= 1024:
            out[path] = {"value_b64": base64.b64encode(body).decode()}
    return out


def record(client, path):
    with open(path, "rb") as f:
        data = f.read()
    status, body = client.request("POST", "/instances", data)
    try:
        answer = json.loads(body)
    except ValueError:
        answer = body.decode("latin-1")
    if status != 200:
        return None, {"status": status, "answer": answer}
    iid = answer["ID"]
    fx = {"post": {"status": status, "answer": answer}}
    fx["instance"] = client.json("/instances/%s" % iid)
    fx["series"] = client.json("/series/%s" % answer["ParentSeries"])
    fx["study"] = client.json("/studies/%s" % answer["ParentStudy"])
    fx["patient"] = client.json("/patients/%s" % answer["ParentPatient"])
    fx["tags"] = client.json("/instances/%s/tags" % iid)
    fx["simplified"] = client.json("/instances/%s/simplified-tags" % iid)
    fx["short"] = client.json("/instances/%s/tags?short" % iid)
    fx["header"] = client.json("/instances/%s/header" % iid)
    fx["header_simplified"] = client.json("/instances/%s/header?simplify" % iid)
    fx["header_short"] = client.json("/instances/%s/header?short" % iid)
    fx["metadata"] = client.json("/instances/%s/metadata?expand" % iid)
    fx["content"] = sample_content(client, iid)
    client.request("DELETE", "/instances/%s" % iid)
    return fx, None


def main():
    data = pydicom_data_dir()
    files = []
    for sub in ("test_files", "charset_files"):
        d = os.path.join(data, sub)
        files += [(sub, os.path.join(d, n)) for n in sorted(os.listdir(d)) if n.endswith(".dcm")]
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc, client = start_orthanc(tmp)
        try:
            version = client.json("/system")["Version"]
            index = {"orthanc_version": version, "accepted": [], "refused": {}}
            for sub, path in files:
                stem = os.path.splitext(os.path.basename(path))[0]
                fx, refused = record(client, path)
                if refused is not None:
                    index["refused"][stem] = dict(refused, dir=sub)
                    print("refused %-40s %d" % (stem, refused["status"]))
                    continue
                fx["source"] = {"dir": sub, "file": os.path.basename(path)}
                with open(os.path.join(OUT, stem + ".json"), "w", encoding="utf-8") as f:
                    json.dump(fx, f, ensure_ascii=False, separators=(",", ":"))
                    f.write("\n")
                index["accepted"].append(stem)
                print("ok      %s" % stem)
            with open(os.path.join(OUT, "index.json"), "w", encoding="utf-8") as f:
                json.dump(index, f, ensure_ascii=False, indent=1, sort_keys=True)
                f.write("\n")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
