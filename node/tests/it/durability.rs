//! Crash safety and concurrency: what a node acknowledged survives `kill -9`
//! (index entry, same file bytes, change log), and concurrent uploads of
//! overlapping sets store each instance once.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{wait_until, TestNode};
use isengard_test_support::synth::{dataset, Shape};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A real `isengard` process on a data directory, killed with SIGKILL on drop.
struct Process {
    child: Child,
    base: String,
}

impl Process {
    fn start(dir: &std::path::Path) -> Process {
        let config = dir.join("config.json");
        std::fs::write(
            &config,
            format!(
                r#"{{ "StorageDirectory": "{}", "HttpPort": 0, "DicomPort": 0, "Isengard": {{ "HttpBind": "127.0.0.1" }} }}"#,
                dir.join("data").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_isengard"))
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start isengard");
        // The node logs the address it serves on; port 0 picks a free one.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("isengard exited before serving")
                .expect("log line");
            if let Some(rest) = line.split("isengard is serving the REST API addr=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                break format!("http://{addr}");
            }
        };
        // Keep draining the log so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Process { child, base }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn acknowledged_instances_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let specs = dataset(Shape {
        patients: 2,
        studies_per_patient: 2,
        series_per_study: 2,
        instances_per_series: 5,
        rows: 16,
        columns: 16,
        seed: 7,
    });
    let mut acknowledged: BTreeMap<String, String> = BTreeMap::new();

    // Round 1: upload sequentially, kill -9 right after the last answer.
    let mut process = Process::start(dir.path());
    for spec in &specs[..20] {
        let bytes = spec.to_bytes();
        let r = client
            .post(format!("{}/instances", process.base))
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let answer: Value = r.json().await.unwrap();
        acknowledged.insert(answer["ID"].as_str().unwrap().to_owned(), sha(&bytes));
    }
    process.kill9();

    // Round 2: restart, then kill -9 while uploads are in flight.
    let mut process = Process::start(dir.path());
    let base = process.base.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let uploader = {
        let client = client.clone();
        let specs = specs[20..].to_vec();
        tokio::spawn(async move {
            for spec in specs {
                let bytes = spec.to_bytes();
                match client
                    .post(format!("{base}/instances"))
                    .body(bytes.clone())
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => {
                        let answer: Value = r.json().await.unwrap();
                        let _ = tx.send((answer["ID"].as_str().unwrap().to_owned(), sha(&bytes)));
                    }
                    _ => return,
                }
            }
        })
    };
    // Kill after a few acknowledgements, in the middle of the stream.
    for _ in 0..5 {
        let (id, hash) = rx.recv().await.expect("uploads are acknowledged");
        acknowledged.insert(id, hash);
    }
    process.kill9();
    let _ = uploader.await;
    while let Ok((id, hash)) = rx.try_recv() {
        acknowledged.insert(id, hash);
    }

    // After restart every acknowledged instance is there with the same bytes.
    let process = Process::start(dir.path());
    for (id, hash) in &acknowledged {
        let r = client
            .get(format!("{}/instances/{id}/file", process.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "instance {id} was acknowledged but is lost"
        );
        assert_eq!(
            &sha(&r.bytes().await.unwrap()),
            hash,
            "instance {id} has other bytes"
        );
    }
    let instances: Vec<String> = client
        .get(format!("{}/instances", process.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stats: Value = client
        .get(format!("{}/statistics", process.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stats["CountInstances"].as_u64().unwrap() as usize,
        instances.len()
    );
    // The change log holds one NewInstance per stored instance, in Seq order.
    let changes: Value = client
        .get(format!("{}/changes?limit=10000", process.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = changes["Changes"].as_array().unwrap();
    let new_instances: BTreeSet<&str> = list
        .iter()
        .filter(|c| c["ChangeType"] == "NewInstance")
        .map(|c| c["ID"].as_str().unwrap())
        .collect();
    assert_eq!(new_instances.len(), instances.len());
    for id in acknowledged.keys() {
        assert!(
            new_instances.contains(id.as_str()),
            "no NewInstance change for {id}"
        );
    }
    let seqs: Vec<u64> = list.iter().map(|c| c["Seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "Seq increases");
}

#[tokio::test]
async fn concurrent_overlapping_uploads_store_each_instance_once() {
    let node = TestNode::start().await;
    let specs = dataset(Shape {
        patients: 3,
        studies_per_patient: 2,
        series_per_study: 2,
        instances_per_series: 4,
        rows: 8,
        columns: 8,
        seed: 11,
    });
    let files: Vec<Vec<u8>> = specs.iter().map(|s| s.to_bytes()).collect();
    let mut clients = Vec::new();
    for c in 0..8usize {
        // Each client uploads two thirds of the files, in its own order.
        let mine: Vec<Vec<u8>> = files
            .iter()
            .enumerate()
            .filter(|(i, _)| (i + c) % 3 != 0)
            .map(|(_, f)| f.clone())
            .rev()
            .collect();
        let client = node.client.clone();
        let url = node.url("/instances");
        clients.push(tokio::spawn(async move {
            let mut success = 0;
            for f in mine {
                let r = client.post(&url).body(f).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let answer: Value = r.json().await.unwrap();
                if answer["Status"] == "Success" {
                    success += 1;
                }
            }
            success
        }));
    }
    let mut successes = 0;
    for c in clients {
        successes += c.await.unwrap();
    }
    assert_eq!(
        successes,
        files.len(),
        "each instance is stored exactly once"
    );
    let (_, stats) = node.get("/statistics").await;
    assert_eq!(stats["CountInstances"], files.len());
    assert_eq!(stats["CountSeries"], 12);
    assert_eq!(stats["CountStudies"], 6);
    assert_eq!(stats["CountPatients"], 3);
    let (_, changes) = node.get("/changes?limit=1000").await;
    let new_instances = changes["Changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ChangeType"] == "NewInstance")
        .count();
    assert_eq!(new_instances, files.len());
    // Every series lists its instances once.
    let (_, series) = node.get("/series?expand").await;
    for s in series.as_array().unwrap() {
        let ids: Vec<&Value> = s["Instances"].as_array().unwrap().iter().collect();
        let unique: BTreeSet<String> = ids.iter().map(|v| v.to_string()).collect();
        assert_eq!(ids.len(), 4);
        assert_eq!(unique.len(), 4);
    }
    wait_until(Duration::from_secs(5), "the node still answers", || async {
        node.client.get(node.url("/system")).send().await.is_ok()
    })
    .await;
}
