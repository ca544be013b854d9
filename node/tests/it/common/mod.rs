//! Test harness: a node started in-process on port 0 with its data in a
//! temporary directory, an HTTP client, and JSON comparison helpers. Condition
//! waits, free ports, kill-on-drop processes and dcmtk's `storescp` come from
//! `isengard-test-support` (shared with the cluster tests), re-exported here.
#![allow(dead_code)]

pub mod orthanc_fixtures;
pub mod reference;

pub use isengard_test_support::{free_port, storescp, wait_until, Killed};

use std::path::PathBuf;
use std::time::Duration;

use isengard::config::Config;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestNode {
    pub base: String,
    /// The DICOM port (bound on 127.0.0.1).
    pub dicom_port: u16,
    pub client: reqwest::Client,
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<isengard::service::Stop, isengard::RunError>>>,
}

/// The configuration document of a test node with its data under `dir`,
/// serving on 127.0.0.1; a test edits it like a configuration file.
pub fn document_in(dir: &std::path::Path) -> Value {
    json!({
        "StorageDirectory": dir.to_str().expect("a UTF-8 temporary directory"),
        "HttpPort": 0,
        "Isengard": { "HttpBind": "127.0.0.1" },
    })
}

/// The configuration of [`document_in`] once `adjust` edited it, resolved as a
/// file would be (without the process environment).
pub fn config_from(dir: &std::path::Path, adjust: impl FnOnce(&mut Value)) -> Config {
    let mut document = document_in(dir);
    adjust(&mut document);
    Config::from_json_str(&document.to_string(), &|_| None)
        .unwrap_or_else(|e| panic!("invalid test configuration {document}: {e}"))
}

/// The default configuration with the data under `dir`.
pub fn config_in(dir: &std::path::Path) -> Config {
    config_from(dir, |_| {})
}

impl TestNode {
    pub async fn start() -> TestNode {
        TestNode::start_with(|_| {}).await
    }

    /// Starts a node whose configuration document `adjust` edits (see
    /// [`config_from`]): `|c| c["DicomCheckCalledAet"] = json!(true)`.
    pub async fn start_with(adjust: impl FnOnce(&mut Value)) -> TestNode {
        let dir = tempfile::tempdir().expect("temp dir");
        TestNode::start_in(dir, adjust).await
    }

    /// Starts a node on an existing data directory (for restarts).
    pub async fn start_in(dir: TempDir, adjust: impl FnOnce(&mut Value)) -> TestNode {
        TestNode::launch(dir, adjust, true).await
    }

    /// Starts a node that may refuse anonymous requests (authentication on):
    /// ready as soon as `/system` answers at all.
    pub async fn start_guarded(adjust: impl FnOnce(&mut Value)) -> TestNode {
        TestNode::launch(tempfile::tempdir().expect("temp dir"), adjust, false).await
    }

    async fn launch(
        dir: TempDir,
        adjust: impl FnOnce(&mut Value),
        require_success: bool,
    ) -> TestNode {
        let config = config_from(dir.path(), adjust);
        let http = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let base = format!("http://{}", http.local_addr().unwrap());
        let dicom = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let dicom_port = dicom.local_addr().unwrap().port();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(isengard::run(
            config,
            isengard::Listeners {
                http,
                dicom,
                grpc: None,
            },
            async move {
                let _ = rx.await;
            },
        ));
        let node = TestNode {
            base,
            dicom_port,
            client: reqwest::Client::new(),
            dir,
            stop: Some(tx),
            task: Some(task),
        };
        let probe = node.client.clone();
        let url = node.url("/system");
        wait_until(Duration::from_secs(30), "the node answers /system", || {
            let probe = probe.clone();
            let url = url.clone();
            async move {
                probe
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| !require_success || r.status().is_success())
            }
        })
        .await;
        node
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.expect("GET");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self.client.get(self.url(path)).send().await.expect("GET");
        (r.status().as_u16(), r.bytes().await.expect("body").to_vec())
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// `POST /tools/execute-script`: the status and what the script printed
    /// (or the error).
    pub async fn execute_script(&self, source: &str) -> (u16, String) {
        let r = self
            .client
            .post(self.url("/tools/execute-script"))
            .body(source.to_owned())
            .send()
            .await
            .expect("POST");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// Uploads a file and expects success; returns the answer.
    pub async fn upload(&self, bytes: Vec<u8>) -> Value {
        let (status, answer) = self.post("/instances", bytes).await;
        assert_eq!(status, 200, "upload failed: {answer}");
        answer
    }

    /// Stops the node and gives back its data directory.
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("node task")
                .expect("node stopped cleanly");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The strings of a JSON array (a list of ids or names); panics otherwise.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

/// The lines of a text file (none when it does not exist yet): what test
/// scripts and callbacks wrote.
pub fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Writes `text` to `dir/name`; returns the path (a script or configuration
/// file for a test).
pub fn script_file(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the file");
    path
}

/// A Lua script in `dir` defining `callbacks` (Lua source) after a local
/// `record(line)` that appends a line to a log file; returns the script's
/// path and the log's (read it with [`lines`]).
pub fn recording_script(dir: &std::path::Path, callbacks: &str) -> (PathBuf, PathBuf) {
    let log = dir.join("calls.txt");
    let prelude = format!(
        "local function record(line)\n  local f = assert(io.open('{}', 'a'))\n  f:write(line .. '\\n')\n  f:close()\nend\n",
        log.display()
    );
    (
        script_file(dir, "recording.lua", &(prelude + callbacks)),
        log,
    )
}

/// pydicom's folder of test files (pydicom is installed by scripts/install-deps.sh).
pub fn pydicom_test_files() -> PathBuf {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import pydicom,os;print(os.path.dirname(pydicom.__file__))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pydicom must be installed (make test installs it)"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("data")
}

/// Describes the first differences between two JSON values (at most `max`),
/// as `path: ours … vs orthanc …`.
pub fn json_diff(path: &str, ours: &Value, theirs: &Value, max: usize, out: &mut Vec<String>) {
    if out.len() >= max {
        return;
    }
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => json_diff(&format!("{path}/{k}"), x, y, max, out),
                    (x, y) => out.push(format!(
                        "{path}/{k}: ours {} vs orthanc {}",
                        brief(x),
                        brief(y)
                    )),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                json_diff(&format!("{path}/{i}"), x, y, max, out);
            }
        }
        _ if ours != theirs => out.push(format!(
            "{path}: ours {} vs orthanc {}",
            brief(Some(ours)),
            brief(Some(theirs))
        )),
        _ => {}
    }
}

/// A JSON value in at most 120 characters, for failure messages.
pub fn brief(v: Option<&Value>) -> String {
    match v {
        None => "absent".into(),
        Some(v) => {
            let s = v.to_string();
            match s.char_indices().nth(120) {
                Some((cut, _)) => format!("{}...", &s[..cut]),
                None => s,
            }
        }
    }
}
