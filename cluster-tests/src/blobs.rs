//! Blob setups for [`TestCluster`]: one folder shared by every node (the
//! default), one bucket of a real S3-protocol server (`s3s-fs`, which
//! `scripts/install-deps.sh` installs), or the replicated mode where each node
//! keeps its own copies; and helpers to look at a node's blobs on disk.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::TestCluster;

/// How the nodes of a [`TestCluster`] store blobs.
#[derive(Default)]
pub enum BlobSetup {
    /// `shared` mode on one folder (`<cluster dir>/blobs`).
    #[default]
    SharedFolder,
    /// `shared` mode on one bucket of an `s3s-fs` server.
    SharedS3(S3Server),
    /// `replicated` mode: each node's own `StorageDirectory`, `replicas`
    /// copies, scrub and repair every `repair_interval_s` seconds.
    Replicated { replicas: u64, repair_interval_s: u64 },
}

impl BlobSetup {
    /// The `Isengard.Blobs` section of every node's configuration.
    pub(crate) fn config(&self, cluster_dir: &Path) -> Value {
        match self {
            BlobSetup::SharedFolder => json!({ "Url": format!("file://{}", cluster_dir.join("blobs").display()) }),
            BlobSetup::SharedS3(_) => json!({ "Url": format!("s3://{S3_BUCKET}/cluster") }),
            BlobSetup::Replicated { replicas, repair_interval_s } => {
                json!({ "Mode": "replicated", "Replicas": replicas, "RepairInterval": repair_interval_s })
            }
        }
    }

    /// Environment variables of every node process.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            BlobSetup::SharedS3(server) => vec![
                ("AWS_ENDPOINT", server.endpoint.clone()),
                ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY.to_owned()),
                ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY.to_owned()),
                ("AWS_REGION", "us-east-1".to_owned()),
            ],
            _ => Vec::new(),
        }
    }
}

/// SHA-256 of `bytes`, lowercase hex: a blob's name.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex_lower(&Sha256::digest(bytes))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where blob `hash` lives under a store's root folder.
pub fn blob_path(root: &Path, hash: &str) -> PathBuf {
    root.join(&hash[0..2]).join(&hash[2..4]).join(hash)
}

impl TestCluster {
    /// Node `id`'s own blob folder (`<StorageDirectory>/blobs`), used in the
    /// replicated mode.
    pub fn node_blob_dir(&self, id: u64) -> PathBuf {
        self.node_dir(id).join("data").join("blobs")
    }

    /// Blob `hash` as stored on node `id`'s disk, `None` if absent.
    pub fn node_blob(&self, id: u64, hash: &str) -> Option<Vec<u8>> {
        std::fs::read(blob_path(&self.node_blob_dir(id), hash)).ok()
    }

    /// The replicated mode's holders of an instance's file, as node `id`
    /// reports them (`IsengardHolders` of `/attachments/dicom/info`), with
    /// the blob's name (`Uuid`).
    pub async fn holders(&self, id: u64, instance: &str) -> Option<(String, Vec<u64>)> {
        let info = self.get_json(id, &format!("/instances/{instance}/attachments/dicom/info")).await?;
        let holders = info["IsengardHolders"].as_array()?.iter().map(|h| h.as_u64()).collect::<Option<Vec<_>>>()?;
        Some((info["Uuid"].as_str()?.to_owned(), holders))
    }

    /// `GET /instances/{id}/file` on node `node`: the bytes, if 200.
    pub async fn instance_file(&self, node: u64, instance: &str) -> Option<Vec<u8>> {
        let r = self.client.get(format!("{}/instances/{instance}/file", self.base(node))).send().await.ok()?;
        if r.status() != 200 {
            return None;
        }
        Some(r.bytes().await.ok()?.to_vec())
    }
}

// ------------------------------------------------------------------ s3s-fs

pub const S3_BUCKET: &str = "isengard-cluster";
const S3_ACCESS_KEY: &str = "isengard-access";
const S3_SECRET_KEY: &str = "isengard-secret-key";

/// An `s3s-fs` process serving a temp folder (one subfolder per bucket) on a
/// loopback port it chose; killed on drop.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    root: TempDir,
}

/// The `s3s-fs` binary: `$S3S_FS`, else on the PATH, else in cargo's bin folder.
fn s3s_fs_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("S3S_FS") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("s3s-fs"))
        .find(|p| p.is_file());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let in_cargo_bin = cargo_home.map(|h| h.join("bin/s3s-fs")).filter(|p| p.is_file());
    on_path.or(in_cargo_bin).expect("s3s-fs is not installed: run scripts/install-deps.sh or set S3S_FS")
}

impl S3Server {
    /// Starts `s3s-fs` with bucket [`S3_BUCKET`] and waits until it accepts
    /// connections.
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join(S3_BUCKET)).unwrap();
        let mut child = Command::new(s3s_fs_binary())
            .args(["--host", "127.0.0.1", "--port", "0", "--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(root.path())
            .env("RUST_LOG", "s3s_fs=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        // It logs "server is running at http://127.0.0.1:PORT" once bound; the
        // reader keeps draining its output so that it never blocks.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, url)) = line.split_once("server is running at ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let endpoint = loop {
            if let Ok(url) = rx.recv_timeout(Duration::from_millis(100)) {
                break url;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("s3s-fs exited before listening: {status}");
            }
            assert!(Instant::now() < deadline, "s3s-fs did not report its address within 30 s");
        };
        let addr: SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs does not accept connections on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        S3Server { child, endpoint, root }
    }

    /// The folder behind the cluster's blobs (`<bucket>/cluster`).
    pub fn blob_dir(&self) -> PathBuf {
        self.root.path().join(S3_BUCKET).join("cluster")
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
