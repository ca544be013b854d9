//! The consistency check every cluster test ends with ([`assert_consistent`]).
//!
//! 1. Every running node has the same state ([`same_state`]): the instance set,
//!    the whole change log (every entry as JSON, paged through `since`/`limit`)
//!    and `/statistics`, whose instance count matches the instance set.
//! 2. Then the [`CHECKS`], each a function of the cluster and the agreed state:
//!    [`files_verify`] reads every instance's file from every node and checks it
//!    against its attachment record (`Uuid` is the SHA-256 of the bytes, plus
//!    size and MD5), the same record on every node. A check that needs more
//!    (each blob has R holders, in the replicated blob mode) is one more entry.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use md5::Md5;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::TestCluster;

/// What must be identical on every node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    pub instances: BTreeSet<String>,
    /// Every change-log entry, in sequence order, as the node renders it.
    pub changes: Vec<Value>,
    pub statistics: Value,
}

impl NodeState {
    /// The change-log entries of type `change_type` about resource `id`.
    pub fn count_changes(&self, change_type: &str, id: &str) -> usize {
        self.changes
            .iter()
            .filter(|c| c["ChangeType"] == change_type && c["ID"] == id)
            .count()
    }
}

/// One step of the check after the nodes agree: `Err` describes what is wrong.
pub type Check = for<'a> fn(
    &'a TestCluster,
    &'a NodeState,
) -> Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// The checks [`assert_consistent`] runs once the nodes agree, in order.
pub const CHECKS: &[(&str, Check)] = &[
    ("every file verifies on every node", files_verify_boxed),
    (
        "every blob has its replicas (replicated mode)",
        holders_complete_boxed,
    ),
];

fn files_verify_boxed<'a>(
    cluster: &'a TestCluster,
    state: &'a NodeState,
) -> Pin<Box<dyn Future<Output = Result<(), String>> + 'a>> {
    Box::pin(files_verify(cluster, state))
}

fn holders_complete_boxed<'a>(
    cluster: &'a TestCluster,
    state: &'a NodeState,
) -> Pin<Box<dyn Future<Output = Result<(), String>> + 'a>> {
    Box::pin(holders_complete(cluster, state))
}

/// In the replicated blob mode: every running node reports the same holders
/// for each instance's file, `min(Replicas, members)` of them, all members.
/// Repair may still be running, so this waits up to 30 s. Other modes: nothing
/// to check.
pub async fn holders_complete(cluster: &TestCluster, state: &NodeState) -> Result<(), String> {
    let crate::BlobSetup::Replicated { replicas, .. } = cluster.blobs else {
        return Ok(());
    };
    let started = Instant::now();
    loop {
        let outcome = holders_once(cluster, state, replicas).await;
        if outcome.is_ok() || started.elapsed() > Duration::from_secs(30) {
            return outcome;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn holders_once(
    cluster: &TestCluster,
    state: &NodeState,
    replicas: u64,
) -> Result<(), String> {
    let live = cluster.live();
    let first = *live.first().ok_or("no node is running")?;
    let status = cluster
        .get_json(first, "/cluster")
        .await
        .ok_or("GET /cluster failed")?;
    let members: BTreeSet<u64> = status["Members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["Id"].as_u64())
        .collect();
    let expected = (replicas as usize).min(members.len());
    for instance in &state.instances {
        let mut agreed: Option<Vec<u64>> = None;
        for node in &live {
            let (_, mut holders) = cluster
                .holders(*node, instance)
                .await
                .ok_or_else(|| format!("node {node}: no holders for {instance}"))?;
            holders.sort_unstable();
            if agreed.get_or_insert_with(|| holders.clone()) != &holders {
                return Err(format!("nodes disagree on the holders of {instance}"));
            }
        }
        let holders = agreed.unwrap_or_default();
        if holders.len() != expected || !holders.iter().all(|h| members.contains(h)) {
            return Err(format!(
                "{instance} is held by {holders:?}; expected {expected} of the members {members:?}"
            ));
        }
    }
    Ok(())
}

/// Node `id`'s state; `Err` when a request fails.
pub async fn node_state(cluster: &TestCluster, id: u64) -> Result<NodeState, String> {
    let get = |path: String| async move {
        cluster
            .get_json(id, &path)
            .await
            .ok_or_else(|| format!("GET {path} failed on node {id}"))
    };
    let listed = get("/instances".into()).await?;
    let instances: BTreeSet<String> =
        serde_json::from_value(listed).map_err(|e| format!("/instances on node {id}: {e}"))?;
    let mut changes = Vec::new();
    let mut since = 0;
    loop {
        let page = get(format!("/changes?since={since}&limit=500")).await?;
        let entries = page["Changes"]
            .as_array()
            .ok_or_else(|| format!("/changes on node {id}: {page}"))?;
        changes.extend(entries.iter().cloned());
        since = page["Last"]
            .as_u64()
            .ok_or_else(|| format!("/changes on node {id}: no Last"))?;
        if page["Done"] == true {
            break;
        }
    }
    let statistics = get("/statistics".into()).await?;
    Ok(NodeState {
        instances,
        changes,
        statistics,
    })
}

/// The state every running node agrees on, or what differs.
pub async fn same_state(cluster: &TestCluster) -> Result<NodeState, String> {
    let live = cluster.live();
    let first = *live.first().ok_or("no node is running")?;
    let reference = node_state(cluster, first).await?;
    for &id in &live[1..] {
        let other = node_state(cluster, id).await?;
        if other != reference {
            return Err(describe_difference(first, &reference, id, &other));
        }
    }
    let counted = reference.statistics["CountInstances"].as_u64();
    if counted != Some(reference.instances.len() as u64) {
        return Err(format!(
            "/statistics counts {counted:?} instances, /instances lists {}",
            reference.instances.len()
        ));
    }
    let seqs: Vec<u64> = reference
        .changes
        .iter()
        .filter_map(|c| c["Seq"].as_u64())
        .collect();
    if seqs.len() != reference.changes.len() || seqs.windows(2).any(|w| w[0] >= w[1]) {
        return Err("change sequence numbers are missing or not increasing".into());
    }
    Ok(reference)
}

fn describe_difference(a: u64, sa: &NodeState, b: u64, sb: &NodeState) -> String {
    if sa.instances != sb.instances {
        let only_a: Vec<_> = sa.instances.difference(&sb.instances).take(3).collect();
        let only_b: Vec<_> = sb.instances.difference(&sa.instances).take(3).collect();
        return format!(
            "instances differ: node {a} has {}, node {b} has {} (only on {a}: {only_a:?}, only on {b}: {only_b:?})",
            sa.instances.len(),
            sb.instances.len()
        );
    }
    if sa.changes != sb.changes {
        let at = sa.changes.iter().zip(&sb.changes).position(|(x, y)| x != y);
        return match at {
            Some(i) => format!(
                "change logs differ at entry {i}: node {a} {} / node {b} {}",
                sa.changes[i], sb.changes[i]
            ),
            None => format!(
                "change logs differ in length: node {a} {} / node {b} {}",
                sa.changes.len(),
                sb.changes.len()
            ),
        };
    }
    format!(
        "/statistics differ: node {a} {} / node {b} {}",
        sa.statistics, sb.statistics
    )
}

/// Every instance's file, read from every running node, matches its
/// attachment record (SHA-256 `Uuid`, size, MD5 when stored), and the record is
/// the same on every node.
pub async fn files_verify(cluster: &TestCluster, state: &NodeState) -> Result<(), String> {
    let live = cluster.live();
    let jobs = state
        .instances
        .iter()
        .flat_map(|i| live.iter().map(move |n| (*n, i.clone())));
    let results: Vec<Result<(String, Value), String>> = stream::iter(jobs)
        .map(|(node, id)| verify_one(cluster, node, id))
        .buffer_unordered(8)
        .collect()
        .await;
    let mut records: BTreeMap<String, Value> = BTreeMap::new();
    for result in results {
        let (id, info) = result?;
        match records.get(&id) {
            Some(seen) if *seen != info => {
                return Err(format!(
                    "instance {id}: attachment {info} vs {seen} on another node"
                ))
            }
            Some(_) => {}
            None => {
                records.insert(id, info);
            }
        }
    }
    Ok(())
}

async fn verify_one(
    cluster: &TestCluster,
    node: u64,
    id: String,
) -> Result<(String, Value), String> {
    let info = cluster
        .get_json(node, &format!("/instances/{id}/attachments/dicom/info"))
        .await
        .ok_or_else(|| format!("no attachment info for {id} on node {node}"))?;
    let url = format!("{}/instances/{id}/file", cluster.base(node));
    let failed = |e: String| format!("GET /instances/{id}/file on node {node}: {e}");
    let r = cluster
        .client
        .get(url)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !r.status().is_success() {
        return Err(failed(r.status().to_string()));
    }
    let bytes = r.bytes().await.map_err(|e| failed(e.to_string()))?;
    let sha = hex::encode(Sha256::digest(&bytes));
    if info["Uuid"] != sha.as_str() {
        return Err(failed(format!(
            "SHA-256 {sha}, attachment says {}",
            info["Uuid"]
        )));
    }
    if info["UncompressedSize"] != bytes.len() {
        return Err(failed(format!(
            "{} bytes, attachment says {}",
            bytes.len(),
            info["UncompressedSize"]
        )));
    }
    let md5 = info["UncompressedMD5"].as_str().unwrap_or_default();
    if !md5.is_empty() && md5 != hex::encode(Md5::digest(&bytes)) {
        return Err(failed(format!("MD5 differs from the attachment's {md5}")));
    }
    Ok((id, info))
}

/// Waits (up to `deadline`) until every running node has the same state, then
/// runs the [`CHECKS`]; panics with what is wrong. Returns the agreed state.
pub async fn assert_consistent(cluster: &TestCluster, deadline: Duration) -> NodeState {
    let started = Instant::now();
    let state = loop {
        match same_state(cluster).await {
            Ok(state) => break state,
            Err(e) if started.elapsed() > deadline => {
                panic!(
                    "nodes {:?} still differ after {deadline:?}: {e}",
                    cluster.live()
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let agreed = started.elapsed();
    for (what, check) in CHECKS {
        if let Err(e) = check(cluster, &state).await {
            panic!("consistency check failed ({what}): {e}");
        }
    }
    eprintln!(
        "consistent: {} nodes agree on {} instances and {} changes after {agreed:?}; checks done after {:?}",
        cluster.live().len(),
        state.instances.len(),
        state.changes.len(),
        started.elapsed()
    );
    state
}
