//! A cluster of real `isengard` processes on loopback, for multi-node tests.
//!
//! [`TestCluster::start`] reserves one gRPC port per node (bind `127.0.0.1:0`,
//! read the port, release it), writes one configuration per node with the same
//! `Members`, its own data directory and a blob folder shared by all nodes
//! (the `shared` blob mode), and starts the binary. HTTP ports are 0: the
//! harness reads the bound address from the node's log. Nodes can be killed
//! with SIGKILL and restarted on the same data. Waits are condition polls with
//! deadlines ([`wait_until`]), never sleeps used as synchronization.
//!
//! The binary is `$ISENGARD_BIN`, or `isengard` next to the test executable's
//! `deps/` folder (`cargo build --release --bin isengard`; `cargo test
//! --workspace` builds it).

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// How long a node may take to print its HTTP address.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// One running `isengard` process, killed with SIGKILL on drop.
pub struct NodeProcess {
    child: Child,
    /// `http://127.0.0.1:port` of its REST API.
    pub base: String,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// N nodes of one cluster, with node ids 1..=N.
pub struct TestCluster {
    /// Held while the cluster lives: the tests share one binary, and two
    /// clusters of three processes at once would starve 2 cores of CPU and
    /// turn election timeouts into flakes.
    _serial: tokio::sync::MutexGuard<'static, ()>,
    pub dir: TempDir,
    pub client: reqwest::Client,
    grpc_ports: BTreeMap<u64, u16>,
    nodes: BTreeMap<u64, Option<NodeProcess>>,
    /// Top-level keys added to every node's configuration.
    extra: serde_json::Map<String, Value>,
}

/// Where the `isengard` binary is.
pub fn isengard_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("ISENGARD_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    let release = exe.parent().and_then(Path::parent).expect("target/release/deps/<test>");
    let bin = release.join("isengard");
    assert!(bin.exists(), "{} is missing: run `cargo build --release --bin isengard` or set ISENGARD_BIN", bin.display());
    bin
}

/// Reserves `n` free loopback ports (they are released before the nodes bind).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0")).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

impl TestCluster {
    /// Starts `n` nodes and waits until they agree on a leader.
    pub async fn start(n: u64) -> TestCluster {
        TestCluster::start_with(n, serde_json::Map::new()).await
    }

    /// [`TestCluster::start`] with `extra` top-level keys in every node's
    /// configuration (e.g. `StableAge`, `LuaScripts`).
    pub async fn start_with(n: u64, extra: serde_json::Map<String, Value>) -> TestCluster {
        static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let serial = SERIAL.lock().await;
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
        let grpc_ports: BTreeMap<u64, u16> = (1..=n).zip(free_ports(n as usize)).collect();
        let mut cluster = TestCluster { _serial: serial, dir, client: reqwest::Client::new(), grpc_ports, nodes: BTreeMap::new(), extra };
        for id in 1..=n {
            cluster.write_config(id);
        }
        for id in 1..=n {
            cluster.start_node(id);
        }
        cluster.wait_for_leader(Duration::from_secs(30)).await;
        cluster
    }

    fn node_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node-{id}"))
    }

    fn write_config(&self, id: u64) {
        let members: serde_json::Map<String, Value> =
            self.grpc_ports.iter().map(|(id, port)| (id.to_string(), Value::from(format!("127.0.0.1:{port}")))).collect();
        let mut config = serde_json::json!({
            "Name": format!("node-{id}"),
            "StorageDirectory": self.node_dir(id).join("data"),
            "HttpPort": 0,
            "DicomPort": 0,
            "Isengard": {
                "HttpBind": "127.0.0.1",
                "Blobs": { "Url": format!("file://{}", self.dir.path().join("blobs").display()) },
                "Cluster": {
                    "NodeId": id,
                    "GrpcListen": format!("127.0.0.1:{}", self.grpc_ports[&id]),
                    "Members": members,
                },
            },
        });
        for (k, v) in &self.extra {
            config[k] = v.clone();
        }
        std::fs::create_dir_all(self.node_dir(id)).unwrap();
        std::fs::write(self.node_dir(id).join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    /// Starts (or restarts) node `id` on its data directory. Its log goes to
    /// `node-<id>/log.txt` (appended across restarts).
    pub fn start_node(&mut self, id: u64) {
        let mut child = Command::new(isengard_bin())
            .arg(self.node_dir(id).join("config.json"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start isengard");
        let stdout = child.stdout.take().unwrap();
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(self.node_dir(id).join("log.txt")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if let Some(rest) = line.split("isengard is serving the REST API addr=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let addr = rx.recv_timeout(START_DEADLINE).unwrap_or_else(|_| {
            panic!("node {id} did not serve HTTP; see {}", self.node_dir(id).join("log.txt").display())
        });
        self.nodes.insert(id, Some(NodeProcess { child, base: format!("http://{addr}") }));
    }

    /// Kills node `id` with SIGKILL.
    pub fn kill9(&mut self, id: u64) {
        self.nodes.insert(id, None);
    }

    /// The ids of the running nodes.
    pub fn live(&self) -> Vec<u64> {
        self.nodes.iter().filter(|(_, n)| n.is_some()).map(|(id, _)| *id).collect()
    }

    /// The REST base URL of running node `id`.
    pub fn base(&self, id: u64) -> &str {
        &self.nodes[&id].as_ref().expect("node is running").base
    }

    /// `GET path` on node `id`, as JSON; `None` on any failure.
    pub async fn get_json(&self, id: u64, path: &str) -> Option<Value> {
        let r = self.client.get(format!("{}{path}", self.base(id))).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// The leader every running node agrees on, if they do.
    pub async fn agreed_leader(&self) -> Option<u64> {
        let mut leader = None;
        for id in self.live() {
            let l = self.get_json(id, "/cluster").await?["Leader"].as_u64()?;
            if leader.is_some_and(|x| x != l) {
                return None;
            }
            leader = Some(l);
        }
        leader.filter(|l| self.live().contains(l))
    }

    /// Waits until every running node names the same running leader.
    pub async fn wait_for_leader(&self, deadline: Duration) -> u64 {
        let start = Instant::now();
        loop {
            if let Some(leader) = self.agreed_leader().await {
                return leader;
            }
            assert!(start.elapsed() < deadline, "no agreed leader after {deadline:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What must be identical on every node: the instance set, the change log
    /// (Seq, ChangeType, ID) and `/statistics`.
    pub async fn snapshot(&self, id: u64) -> Option<(Vec<String>, Vec<(u64, String, String)>, Value)> {
        let mut instances: Vec<String> = serde_json::from_value(self.get_json(id, "/instances").await?).ok()?;
        instances.sort();
        let mut changes = Vec::new();
        let mut since = 0;
        loop {
            let page = self.get_json(id, &format!("/changes?since={since}&limit=100")).await?;
            for c in page["Changes"].as_array()? {
                changes.push((c["Seq"].as_u64()?, c["ChangeType"].as_str()?.to_owned(), c["ID"].as_str()?.to_owned()));
            }
            since = page["Last"].as_u64()?;
            if page["Done"].as_bool()? {
                break;
            }
        }
        let stats = self.get_json(id, "/statistics").await?;
        Some((instances, changes, stats))
    }

    /// Waits until every running node has the same instances, change log and
    /// statistics, and returns that instance set.
    pub async fn wait_consistent(&self, deadline: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let mut views = Vec::new();
            for id in self.live() {
                views.push(self.snapshot(id).await);
            }
            if views.iter().all(Option::is_some) && views.windows(2).all(|w| w[0] == w[1]) {
                return views.remove(0).unwrap().0;
            }
            assert!(start.elapsed() < deadline, "nodes {:?} still differ after {deadline:?}", self.live());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Polls `check` until it holds, panicking after `deadline`.
pub async fn wait_until<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        if check().await {
            return;
        }
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting until {what}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
