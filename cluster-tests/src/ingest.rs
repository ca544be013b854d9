//! Synthetic data for the cluster tests and posting it. [`SMALL`] is the shape
//! most tests start from and change a field or two of
//! (`Shape { seed: 10, ..SMALL }`); [`files`] renders a data set. On
//! [`TestCluster`]: `POST /instances` on one node ([`TestCluster::post`],
//! [`TestCluster::try_post`], [`TestCluster::post_ok`]) and through every
//! running node in turn ([`TestCluster::post_round_robin`]).

use isengard_test_support::synth::{dataset, Shape, Spec};
use serde_json::Value;

use crate::TestCluster;

/// 2 patients × 2 studies × 2 series × 3 instances of 8×8 pixels (24 files),
/// seed 0.
pub const SMALL: Shape = Shape {
    patients: 2,
    studies_per_patient: 2,
    series_per_study: 2,
    instances_per_series: 3,
    rows: 8,
    columns: 8,
    seed: 0,
};

/// The files of the synthetic data set `shape`, in order.
pub fn files(shape: Shape) -> Vec<Vec<u8>> {
    dataset(shape).iter().map(Spec::to_bytes).collect()
}

/// Posts `body` to `base/instances`; `Some(id)` when acknowledged (200).
pub async fn post_instance(client: &reqwest::Client, base: &str, body: Vec<u8>) -> Option<String> {
    let r = client
        .post(format!("{base}/instances"))
        .body(body)
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    let answer: Value = r.json().await.ok()?;
    Some(answer["ID"].as_str()?.to_owned())
}

impl TestCluster {
    /// `POST /instances` of `file` on running node `node`: the status and the
    /// JSON answer (`Null` when the body is not JSON). Panics when the node
    /// does not answer at all.
    pub async fn post(&self, node: u64, file: Vec<u8>) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}/instances", self.base(node)))
            .body(file)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /instances on node {node}: {e}"));
        crate::status_and_json(r).await
    }

    /// Posts `file` on node `node`: `Some(id)` when acknowledged, `None` on
    /// any failure (refused, no answer).
    pub async fn try_post(&self, node: u64, file: Vec<u8>) -> Option<String> {
        post_instance(&self.client, self.base(node), file).await
    }

    /// Posts `file` on node `node` and expects it acknowledged: the instance id.
    pub async fn post_ok(&self, node: u64, file: Vec<u8>) -> String {
        let (status, answer) = self.post(node, file).await;
        assert_eq!(status, 200, "POST /instances on node {node}: {answer}");
        answer["ID"]
            .as_str()
            .unwrap_or_else(|| panic!("no ID in {answer}"))
            .to_owned()
    }

    /// Posts `files` through the running nodes in turn (file `i` to the
    /// `i mod n`-th of the `n` running nodes), each acknowledged; answers the
    /// instance ids in order.
    pub async fn post_round_robin(&self, files: &[Vec<u8>]) -> Vec<String> {
        let live = self.live();
        let mut ids = Vec::with_capacity(files.len());
        for (i, file) in files.iter().enumerate() {
            ids.push(self.post_ok(live[i % live.len()], file.clone()).await);
        }
        ids
    }
}
