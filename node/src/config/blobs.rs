//! `"Isengard"."Blobs"`: where DICOM files live and, in a cluster, whether the
//! nodes share one store (`shared`) or each keeps its own copies (`replicated`).
//!
//! The default mode is what an Orthanc user expects from their setup: a single
//! node, or any node given a `Url` (one bucket, one mounted folder), shares one
//! store; cluster members without a `Url` each have their own
//! `StorageDirectory`, so their blobs are replicated between them (a cluster in
//! the shared mode on separate disks would serve files only where they landed).

use std::time::Duration;

use serde_json::{Map, Value};

use super::keys::{self, Key};
use super::resolve::parse_blob_url;
use super::values::{describe, value};
use super::{BlobLocation, ClusterConfig, ConfigError};

/// The default number of copies of a blob in the replicated mode, capped by
/// the number of members.
pub const DEFAULT_REPLICAS: u64 = 3;

/// The default `RepairInterval`, in seconds.
pub const DEFAULT_REPAIR_INTERVAL: u64 = 60;

/// How the nodes of a cluster store blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobMode {
    /// Every node reads and writes one store (an S3 bucket, a shared folder).
    Shared,
    /// Every node keeps blobs in its own folder; each blob is copied to
    /// `replicas` nodes before its instance is acknowledged.
    Replicated,
}

impl BlobMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BlobMode::Shared => "shared",
            BlobMode::Replicated => "replicated",
        }
    }
}

/// What the `Blobs` section says besides `Url` and `Fsync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BlobPlacement {
    pub mode: BlobMode,
    pub replicas: u64,
    pub repair_interval: Duration,
}

fn invalid(key: Key, expected: &'static str, found: String) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.path().to_owned(),
        expected,
        found,
    }
}

/// Resolves `Mode`, `Replicas` and `RepairInterval` against the (already
/// validated, environment-overridden) `url` and the cluster's initial members.
pub(super) fn resolve_placement(
    section: &Map<String, Value>,
    url: Option<&str>,
    cluster: Option<&ClusterConfig>,
) -> Result<BlobPlacement, ConfigError> {
    let members = cluster.map_or(1, |c| c.members.len() as u64);
    let mode = match value(section, keys::BLOBS_MODE) {
        None if url.is_some() || cluster.is_none() => BlobMode::Shared,
        None => BlobMode::Replicated,
        Some(Value::String(s)) if s == "shared" => BlobMode::Shared,
        Some(Value::String(s)) if s == "replicated" => BlobMode::Replicated,
        Some(v) => {
            return Err(invalid(
                keys::BLOBS_MODE,
                "\"shared\" or \"replicated\"",
                describe(v),
            ))
        }
    };
    if mode == BlobMode::Replicated {
        if let Some(BlobLocation::S3 { .. }) = url.and_then(parse_blob_url) {
            return Err(invalid(
                keys::BLOBS_URL,
                "a file:///absolute/path URL (each node's own folder) or no Url in the replicated mode",
                describe(&Value::String(url.unwrap_or_default().to_owned())),
            ));
        }
    }
    let replicas = match value(section, keys::BLOBS_REPLICAS) {
        None => DEFAULT_REPLICAS.min(members),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=members).contains(&n) => n,
            _ => return Err(invalid(
                keys::BLOBS_REPLICAS,
                "an integer from 1 to the number of Isengard.Cluster.Members (1 without a cluster)",
                describe(v),
            )),
        },
    };
    let repair_interval = match value(section, keys::BLOBS_REPAIR_INTERVAL) {
        None => DEFAULT_REPAIR_INTERVAL,
        Some(v) => v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            invalid(
                keys::BLOBS_REPAIR_INTERVAL,
                "a positive integer (seconds)",
                describe(v),
            )
        })?,
    };
    Ok(BlobPlacement {
        mode,
        replicas,
        repair_interval: Duration::from_secs(repair_interval),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{BlobMode, Config, ConfigError};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_json_str(text, &|_| None)
    }

    fn cluster(members: usize, blobs: &str) -> String {
        let members: Vec<String> = (1..=members)
            .map(|i| format!(r#""{i}": "n{i}:4300""#))
            .collect();
        format!(
            r#"{{ "Isengard": {{ "Blobs": {{ {blobs} }}, "Cluster": {{ "NodeId": 1, "Members": {{ {} }} }} }} }}"#,
            members.join(", ")
        )
    }

    fn error_key(text: &str) -> String {
        match parse(text) {
            Err(ConfigError::InvalidValue { key, .. }) => key,
            other => panic!("expected an invalid value, got {other:?}"),
        }
    }

    #[test]
    fn a_single_node_shares_its_storage_directory() {
        let c = parse("{}").unwrap();
        assert_eq!(c.blobs.mode, BlobMode::Shared);
        assert_eq!(c.blobs.replicas, 1);
        assert_eq!(c.blobs.repair_interval.as_secs(), 60);
        assert!(c.unsupported_keys.is_empty());
    }

    #[test]
    fn a_cluster_without_url_replicates_with_at_most_three_copies() {
        let c = parse(&cluster(5, "")).unwrap();
        assert_eq!((c.blobs.mode, c.blobs.replicas), (BlobMode::Replicated, 3));
        let c = parse(&cluster(2, "")).unwrap();
        assert_eq!((c.blobs.mode, c.blobs.replicas), (BlobMode::Replicated, 2));
        let c = parse(&cluster(3, r#""Replicas": 2, "RepairInterval": 5"#)).unwrap();
        assert_eq!(
            (c.blobs.replicas, c.blobs.repair_interval.as_secs()),
            (2, 5)
        );
    }

    #[test]
    fn a_cluster_with_url_shares_it() {
        let c = parse(&cluster(3, r#""Url": "s3://bucket/x""#)).unwrap();
        assert_eq!(c.blobs.mode, BlobMode::Shared);
        let c = parse(&cluster(
            3,
            r#""Url": "file:///mnt/own", "Mode": "replicated""#,
        ))
        .unwrap();
        assert_eq!(c.blobs.mode, BlobMode::Replicated);
        let c = parse(&cluster(3, r#""Mode": "shared""#)).unwrap();
        assert_eq!(c.blobs.mode, BlobMode::Shared);
    }

    #[test]
    fn bad_placements_name_their_key() {
        assert_eq!(
            error_key(&cluster(3, r#""Mode": "Replicated""#)),
            "Isengard.Blobs.Mode"
        );
        assert_eq!(
            error_key(&cluster(3, r#""Mode": 2"#)),
            "Isengard.Blobs.Mode"
        );
        assert_eq!(
            error_key(&cluster(3, r#""Replicas": 0"#)),
            "Isengard.Blobs.Replicas"
        );
        assert_eq!(
            error_key(&cluster(3, r#""Replicas": 4"#)),
            "Isengard.Blobs.Replicas"
        );
        assert_eq!(
            error_key(&cluster(3, r#""Replicas": "2""#)),
            "Isengard.Blobs.Replicas"
        );
        assert_eq!(
            error_key(r#"{"Isengard": {"Blobs": {"Replicas": 2}}}"#),
            "Isengard.Blobs.Replicas"
        );
        assert_eq!(
            error_key(&cluster(3, r#""RepairInterval": 0"#)),
            "Isengard.Blobs.RepairInterval"
        );
        assert_eq!(
            error_key(&cluster(3, r#""Mode": "replicated", "Url": "s3://bucket""#)),
            "Isengard.Blobs.Url"
        );
    }

    #[test]
    fn the_environment_url_chooses_the_default_mode() {
        let text = cluster(3, "");
        let c = Config::from_json_str(&text, &|name| {
            (name == "ISENGARD_BLOBS_URL").then(|| "s3://env-bucket".to_owned())
        })
        .unwrap();
        assert_eq!(c.blobs.mode, BlobMode::Shared);
    }
}
