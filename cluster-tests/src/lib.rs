//! A cluster of real `isengard` processes on loopback, for multi-node tests.
//!
//! [`TestCluster::start`] reserves one gRPC port per node (bind `127.0.0.1:0`,
//! read the port, release it), writes one configuration per node with the same
//! `Members`, its own data directory and the blob setup ([`BlobSetup`]: by
//! default a folder shared by all nodes), and starts the binary. HTTP ports are 0: the
//! harness reads the bound address from the node's log. Nodes can be killed
//! with SIGKILL and restarted on the same data. Waits are condition polls with
//! deadlines ([`wait_until`], from `isengard-test-support` like [`free_ports`]
//! and [`Killed`]), never sleeps used as synchronization. With
//! `ISENGARD_KEEP_TEST_DIRS` set, the data directories and node logs are kept.
//!
//! [`TestCluster::start_with`] takes [`ClusterOptions`]: configuration merged
//! into every node's, and `proxied` to put a fault-injecting TCP proxy
//! ([`proxy::Proxies`]) in front of each node's gRPC port. The consistency
//! check every test ends with is [`check`]; a DICOM client, [`dicom`];
//! synthetic data and posting it, [`ingest`].
//!
//! The binary is `$ISENGARD_BIN`, or `isengard` next to the test executable's
//! `deps/` folder (`cargo build --release --bin isengard`; `cargo test
//! --workspace` builds it).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub use isengard_test_support::{free_port, free_ports, wait_until, Killed};

mod blobs;
pub use blobs::{blob_path, sha256_hex, BlobSetup, S3Server};
pub mod check;
pub mod dicom;
pub mod ingest;
pub mod proxy;

use proxy::Proxies;
pub mod membership;

/// One cluster at a time per test binary (see [`TestCluster`]'s `_serial`).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a node may take to print its HTTP address.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// One running `isengard` process, killed with SIGKILL on drop.
pub struct NodeProcess {
    child: Killed,
    /// `http://127.0.0.1:port` of its REST API.
    pub base: String,
    /// The address of its DICOM port.
    pub dicom: std::net::SocketAddr,
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
    options: ClusterOptions,
    pub blobs: BlobSetup,
    proxies: Option<Proxies>,
}

/// How [`TestCluster::start_with`] sets the nodes up.
#[derive(Default)]
pub struct ClusterOptions {
    /// A proxy in front of each node's gRPC port: `Members` name the proxies,
    /// and [`TestCluster::proxies`] cuts and restores links.
    pub proxied: bool,
    /// Merged into every node's configuration (objects key by key), e.g.
    /// `{"StableAge": 2}`.
    pub config: Value,
    /// Where blobs live (default: one folder shared by all nodes).
    pub blobs: BlobSetup,
}

/// Merges `extra` into `base`, objects key by key, anything else replaced
/// (`null`: nothing to merge).
fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (_, Value::Null) => {}
        (Value::Object(base), Value::Object(extra)) => {
            for (k, v) in extra {
                merge(base.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (base, extra) => *base = extra.clone(),
    }
}

/// A response's status and JSON body (`Null` when the body is not JSON).
pub(crate) async fn status_and_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Where the `isengard` binary is.
pub fn isengard_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("ISENGARD_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    let release = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/release/deps/<test>");
    let bin = release.join("isengard");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release --bin isengard` or set ISENGARD_BIN",
        bin.display()
    );
    bin
}

impl TestCluster {
    /// Starts `n` nodes sharing one blob folder and waits until they agree on
    /// a leader.
    pub async fn start(n: u64) -> TestCluster {
        TestCluster::start_with(n, ClusterOptions::default()).await
    }

    /// Starts `n` nodes set up as `options` says and waits until they agree on
    /// a leader.
    pub async fn start_with(n: u64, mut options: ClusterOptions) -> TestCluster {
        let serial = SERIAL.lock().await;
        let mut dir = tempfile::tempdir().expect("temp dir");
        if std::env::var_os("ISENGARD_KEEP_TEST_DIRS").is_some() {
            dir.disable_cleanup(true);
            eprintln!(
                "cluster data and node logs kept in {}",
                dir.path().display()
            );
        }
        std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
        let grpc_ports: BTreeMap<u64, u16> = (1..=n).zip(free_ports(n as usize)).collect();
        let proxies = options.proxied.then(|| {
            let upstream = grpc_ports
                .iter()
                .map(|(id, port)| (*id, std::net::SocketAddr::from(([127, 0, 0, 1], *port))));
            Proxies::start(&upstream.collect())
        });
        let mut cluster = TestCluster {
            _serial: serial,
            dir,
            client: reqwest::Client::new(),
            grpc_ports,
            nodes: BTreeMap::new(),
            blobs: std::mem::take(&mut options.blobs),
            options,
            proxies,
        };
        for id in 1..=n {
            cluster.write_config(id);
        }
        for id in 1..=n {
            cluster.start_node(id);
        }
        cluster.wait_for_leader(Duration::from_secs(30)).await;
        cluster
    }

    pub(crate) fn node_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node-{id}"))
    }

    fn write_config(&self, id: u64) {
        let members: serde_json::Map<String, Value> = self
            .grpc_ports
            .iter()
            .map(|(id, port)| {
                let port = self.proxies.as_ref().map_or(*port, |p| p.port(*id));
                (id.to_string(), Value::from(format!("127.0.0.1:{port}")))
            })
            .collect();
        let mut config = serde_json::json!({
            "Name": format!("node-{id}"),
            "StorageDirectory": self.node_dir(id).join("data"),
            "HttpPort": 0,
            "DicomPort": 0,
            "Isengard": {
                "HttpBind": "127.0.0.1",
                "Blobs": self.blobs.config(self.dir.path()),
                "Cluster": {
                    "NodeId": id,
                    "GrpcListen": format!("127.0.0.1:{}", self.grpc_ports[&id]),
                    "Members": members,
                },
            },
        });
        merge(&mut config, &self.options.config);
        std::fs::create_dir_all(self.node_dir(id)).unwrap();
        std::fs::write(
            self.node_dir(id).join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
    }

    /// Starts (or restarts) node `id` on its data directory. Its log goes to
    /// `node-<id>/log.txt` (appended across restarts).
    pub fn start_node(&mut self, id: u64) {
        let mut child = Command::new(isengard_bin())
            .arg(self.node_dir(id).join("config.json"))
            .envs(self.blobs.env())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start isengard");
        if let Some(proxies) = &self.proxies {
            proxies.register(child.id(), id);
        }
        let stdout = child.stdout.take().unwrap();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.node_dir(id).join("log.txt"))
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut dicom = String::new();
            let field = |line: &str, after: &str| {
                line.split(after).nth(1).map(|rest| {
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
            };
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if let Some(addr) = field(&line, "isengard is serving DICOM addr=") {
                    dicom = addr;
                }
                if let Some(addr) = field(&line, "isengard is serving the REST API addr=") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send((addr, dicom.clone()));
                    }
                }
            }
        });
        let (addr, dicom) = rx.recv_timeout(START_DEADLINE).unwrap_or_else(|_| {
            panic!(
                "node {id} did not serve HTTP; see {}",
                self.node_dir(id).join("log.txt").display()
            )
        });
        let dicom = dicom
            .parse()
            .unwrap_or_else(|_| panic!("node {id} logged no DICOM address before its HTTP one"));
        self.nodes.insert(
            id,
            Some(NodeProcess {
                child: Killed(child),
                base: format!("http://{addr}"),
                dicom,
            }),
        );
    }

    /// Kills node `id` with SIGKILL.
    pub fn kill9(&mut self, id: u64) {
        self.nodes.insert(id, None);
    }

    /// The ids of the running nodes.
    pub fn live(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The REST base URL of running node `id`.
    pub fn base(&self, id: u64) -> &str {
        &self.nodes[&id].as_ref().expect("node is running").base
    }

    /// The DICOM address of running node `id`.
    pub fn dicom(&self, id: u64) -> std::net::SocketAddr {
        self.nodes[&id].as_ref().expect("node is running").dicom
    }

    /// The ids of all nodes, running or not.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// The fault-injecting proxies (the cluster must be started `proxied`).
    pub fn proxies(&self) -> &Proxies {
        self.proxies
            .as_ref()
            .expect("the cluster was started with ClusterOptions { proxied: true, .. }")
    }

    /// `GET path` on node `id`, as JSON; `None` on any failure.
    pub async fn get_json(&self, id: u64, path: &str) -> Option<Value> {
        let r = self
            .client
            .get(format!("{}{path}", self.base(id)))
            .send()
            .await
            .ok()?;
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
            assert!(
                start.elapsed() < deadline,
                "no agreed leader after {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What must be identical on every node: the instance set, the change log
    /// (Seq, ChangeType, ID) and `/statistics`.
    pub async fn snapshot(
        &self,
        id: u64,
    ) -> Option<(Vec<String>, Vec<(u64, String, String)>, Value)> {
        let mut instances: Vec<String> =
            serde_json::from_value(self.get_json(id, "/instances").await?).ok()?;
        instances.sort();
        let mut changes = Vec::new();
        let mut since = 0;
        loop {
            let page = self
                .get_json(id, &format!("/changes?since={since}&limit=100"))
                .await?;
            for c in page["Changes"].as_array()? {
                changes.push((
                    c["Seq"].as_u64()?,
                    c["ChangeType"].as_str()?.to_owned(),
                    c["ID"].as_str()?.to_owned(),
                ));
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
            assert!(
                start.elapsed() < deadline,
                "nodes {:?} still differ after {deadline:?}",
                self.live()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
