//! Blob setups for [`TestCluster`]: one folder shared by every node (the
//! default), one bucket of a real S3-protocol server (`s3s-fs`, which
//! `scripts/install-deps.sh` installs, started through
//! `isengard-test-support`), or the replicated mode where each node keeps its
//! own copies; and helpers to look at a node's blobs on disk.

use std::path::{Path, PathBuf};

use isengard_test_support::{S3sFs, S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

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
    Replicated {
        replicas: u64,
        repair_interval_s: u64,
    },
}

impl BlobSetup {
    /// The `Isengard.Blobs` section of every node's configuration.
    pub(crate) fn config(&self, cluster_dir: &Path) -> Value {
        match self {
            BlobSetup::SharedFolder => {
                json!({ "Url": format!("file://{}", cluster_dir.join("blobs").display()) })
            }
            BlobSetup::SharedS3(_) => json!({ "Url": format!("s3://{S3_BUCKET}/{S3_PREFIX}") }),
            BlobSetup::Replicated {
                replicas,
                repair_interval_s,
            } => {
                json!({ "Mode": "replicated", "Replicas": replicas, "RepairInterval": repair_interval_s })
            }
        }
    }

    /// Environment variables of every node process.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            BlobSetup::SharedS3(server) => vec![
                ("AWS_ENDPOINT", server.endpoint().to_owned()),
                ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY.to_owned()),
                ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY.to_owned()),
                ("AWS_REGION", S3_REGION.to_owned()),
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
        let info = self
            .get_json(id, &format!("/instances/{instance}/attachments/dicom/info"))
            .await?;
        let holders = info["IsengardHolders"]
            .as_array()?
            .iter()
            .map(|h| h.as_u64())
            .collect::<Option<Vec<_>>>()?;
        Some((info["Uuid"].as_str()?.to_owned(), holders))
    }

    /// `GET /instances/{id}/file` on node `node`: the bytes, if 200.
    pub async fn instance_file(&self, node: u64, instance: &str) -> Option<Vec<u8>> {
        let r = self
            .client
            .get(format!("{}/instances/{instance}/file", self.base(node)))
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        Some(r.bytes().await.ok()?.to_vec())
    }
}

// ------------------------------------------------------------------ s3s-fs

pub const S3_BUCKET: &str = "isengard-cluster";
/// Where in the bucket the cluster keeps its blobs.
const S3_PREFIX: &str = "cluster";

/// The `s3s-fs` server behind [`BlobSetup::SharedS3`]: bucket [`S3_BUCKET`],
/// the cluster's blobs under the prefix `cluster`; killed on drop.
pub struct S3Server(S3sFs);

impl S3Server {
    /// Starts `s3s-fs` with bucket [`S3_BUCKET`] and waits until it accepts
    /// connections.
    pub fn start() -> S3Server {
        S3Server(S3sFs::start(S3_BUCKET))
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// The folder behind the cluster's blobs (`<bucket>/cluster`).
    pub fn blob_dir(&self) -> PathBuf {
        self.0.bucket_dir().join(S3_PREFIX)
    }
}
