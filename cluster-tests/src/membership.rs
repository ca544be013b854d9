//! Harness additions for membership tests: spare nodes that are not in `Members` and
//! wait to be added, the `isengard cluster` CLI, continuous ingest in the
//! background, and the end-of-test consistency check.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use crate::ingest::post_instance;
use crate::{free_port, isengard_bin, TestCluster};

impl TestCluster {
    /// Stops node `id` gracefully (SIGTERM) and waits until it exited.
    pub async fn stop_node(&mut self, id: u64) {
        let Some(Some(mut node)) = self.nodes.remove(&id) else {
            panic!("node {id} is not running")
        };
        let pid = node.child.0.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
        let start = Instant::now();
        while node
            .child
            .0
            .try_wait()
            .expect("wait for the node")
            .is_none()
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "node {id} did not stop on SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.nodes.insert(id, None);
    }

    /// The configuration file of node `id`.
    pub fn config_path(&self, id: u64) -> PathBuf {
        self.node_dir(id).join("config.json")
    }

    /// Node `id`'s log (appended across restarts).
    pub fn log_text(&self, id: u64) -> String {
        std::fs::read_to_string(self.node_dir(id).join("log.txt")).unwrap_or_default()
    }

    /// Node `id`'s data directory (index and snapshots).
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.node_dir(id).join("data")
    }

    /// Rewrites node `id`'s configuration file through `edit`.
    pub fn edit_config(&self, id: u64, edit: impl FnOnce(&mut Value)) {
        let path = self.config_path(id);
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut config);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    /// Writes the configuration of a spare node `id`: node 1's configuration
    /// (same `Members`, which do not include `id`) with its own id, name, data
    /// directory and gRPC port. Answers the address to add it with.
    pub fn prepare_spare(&self, id: u64) -> String {
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(self.config_path(1)).unwrap()).unwrap();
        config["Name"] = format!("node-{id}").into();
        config["StorageDirectory"] = self.data_dir(id).to_string_lossy().into_owned().into();
        let cluster = &mut config["Isengard"]["Cluster"];
        cluster["NodeId"] = id.into();
        cluster["GrpcListen"] = address.clone().into();
        cluster["GrpcAdvertise"] = address.clone().into();
        std::fs::create_dir_all(self.node_dir(id)).unwrap();
        std::fs::write(
            self.config_path(id),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        address
    }

    /// `GET /cluster` on node `id`.
    pub async fn cluster_status(&self, id: u64) -> Value {
        self.get_json(id, "/cluster")
            .await
            .unwrap_or_else(|| panic!("GET /cluster on node {id}"))
    }

    /// `POST /cluster/members` on node `via`, adding node `id` at `address`
    /// (learner, caught up, voter): the status and the JSON answer (the new
    /// `/cluster` status on success).
    pub async fn add_member(&self, via: u64, id: u64, address: &str) -> (u16, Value) {
        let url = format!("{}/cluster/members", self.base(via));
        let sent = self
            .client
            .post(url)
            .json(&serde_json::json!({ "NodeId": id, "Address": address }))
            .send()
            .await;
        crate::status_and_json(
            sent.unwrap_or_else(|e| panic!("POST /cluster/members on node {via}: {e}")),
        )
        .await
    }

    /// `DELETE /cluster/members/{id}` on node `via`: the status and the JSON
    /// answer.
    pub async fn remove_member(&self, via: u64, id: u64) -> (u16, Value) {
        let url = format!("{}/cluster/members/{id}", self.base(via));
        let sent = self.client.delete(url).send().await;
        crate::status_and_json(
            sent.unwrap_or_else(|e| panic!("DELETE /cluster/members/{id} on node {via}: {e}")),
        )
        .await
    }

    /// Runs `isengard cluster <args> --url <node via>`: (exit code, stdout, stderr).
    pub async fn cli(&self, via: u64, args: &[&str]) -> (i32, String, String) {
        let mut command = Command::new(isengard_bin());
        command
            .arg("cluster")
            .args(args)
            .arg("--url")
            .arg(self.base(via));
        let out =
            tokio::task::spawn_blocking(move || command.output().expect("run isengard cluster"))
                .await
                .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The end-of-test check: [`crate::check::assert_consistent`] (same
    /// instances, change log and statistics everywhere, every file verifies),
    /// and the same voters on every node. Answers the instance set.
    pub async fn check_consistent(&self, deadline: Duration) -> BTreeSet<String> {
        let state = crate::check::assert_consistent(self, deadline).await;
        let voters = |status: &Value| -> BTreeSet<u64> {
            status["Members"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter(|m| m["Voter"] == true)
                        .filter_map(|m| m["Id"].as_u64())
                        .collect()
                })
                .unwrap_or_default()
        };
        let live = self.live();
        crate::wait_until(deadline, "every node knows the same voters", || async {
            let mut seen = Vec::new();
            for id in &live {
                seen.push(voters(&self.cluster_status(*id).await));
            }
            seen.windows(2).all(|w| w[0] == w[1])
        })
        .await;
        state.instances
    }
}

/// The ids of the members a `GET /cluster` status lists.
pub fn member_ids(status: &Value) -> Vec<u64> {
    status["Members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["Id"].as_u64())
        .collect()
}

/// Instances posted in the background, one after the other, until stopped.
pub struct Ingest {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<BTreeSet<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Ingest {
    /// Posts `files` in turn to the nodes at `bases` (round robin); a refused
    /// file is retried on the next node.
    pub fn start(client: reqwest::Client, bases: Vec<String>, files: Vec<Vec<u8>>) -> Ingest {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
        let task = {
            let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let mut turn = 0;
                for file in files {
                    loop {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        turn += 1;
                        let base = &bases[turn % bases.len()];
                        if let Some(id) = post_instance(&client, base, file.clone()).await {
                            acknowledged.lock().unwrap().insert(id);
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        };
        Ingest {
            stop,
            acknowledged,
            task,
        }
    }

    /// How many instances were acknowledged so far.
    pub fn count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    /// Waits until `n` more instances than now are acknowledged.
    pub async fn wait_for_more(&self, n: usize, deadline: Duration, what: &str) {
        let target = self.count() + n;
        let start = Instant::now();
        while self.count() < target {
            assert!(
                !self.task.is_finished(),
                "ingest ran out of files before {what}"
            );
            assert!(
                start.elapsed() < deadline,
                "ingest stalled: {} of {target} after {deadline:?} ({what})",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops and answers the acknowledged instances.
    pub async fn stop(self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        let acknowledged = self.acknowledged.lock().unwrap().clone();
        acknowledged
    }
}
