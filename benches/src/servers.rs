//! The servers under test as child processes on loopback: the reference
//! Orthanc (its default SQLite index and filesystem storage) and Isengard
//! (one node, or a 3-node cluster sharing one blob folder), with the same
//! settings: loopback HTTP and DICOM ports, `StableAge`, no authentication,
//! the bench's SCU and SCP AE titles as known modalities. Each server gets
//! its own storage folder and is killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::plan::Plan;

/// AE title of the bench's SCUs (storescu, findscu, movescu, getscu).
pub const SCU_AET: &str = "BENCHSCU";
/// AE title of the bench's storescp, the C-MOVE destination.
pub const SCP_AET: &str = "BENCHSCP";
/// `StableAge` of every server: longer than any workload, as in production.
const STABLE_AGE: u64 = 60;
const START_DEADLINE: Duration = Duration::from_secs(60);

/// Which implementation a server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Isengard,
    Orthanc,
    /// Three Isengard nodes.
    Cluster,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Isengard => "Isengard",
            Kind::Orthanc => "Orthanc",
            Kind::Cluster => "Isengard 3-node cluster",
        }
    }
}

/// What every server start needs.
pub struct Env {
    pub isengard: PathBuf,
    pub orthanc: PathBuf,
    pub work: PathBuf,
    /// Port of the bench's storescp.
    pub scp_port: u16,
    pub scp_dir: PathBuf,
    counter: Mutex<u32>,
    pub orthanc_version: Mutex<String>,
}

impl Env {
    pub fn new(plan: &Plan, work: &Path) -> anyhow::Result<Env> {
        Ok(Env {
            isengard: plan.isengard.clone(),
            orthanc: plan.orthanc.clone(),
            work: work.to_owned(),
            scp_port: free_ports(1)?[0],
            scp_dir: work.join("storescp"),
            counter: Mutex::new(0),
            orthanc_version: Mutex::new(String::new()),
        })
    }

    fn fresh_dir(&self, label: &str) -> anyhow::Result<PathBuf> {
        let mut n = self.counter.lock().unwrap();
        *n += 1;
        let dir = self.work.join(format!("server-{:03}-{label}", *n));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn modalities(&self) -> Value {
        json!({
            "benchscu": [SCU_AET, "127.0.0.1", self.scp_port],
            "benchscp": [SCP_AET, "127.0.0.1", self.scp_port],
        })
    }
}

/// Reserves `n` free loopback ports (released before the servers bind them:
/// Orthanc cannot bind port 0).
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()?)
}

/// One process: its REST base URL, DICOM port and AE title.
pub struct Process {
    child: Child,
    pub base: String,
    pub dicom_port: u16,
    pub aet: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process, from `/proc/PID/status`, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rss {
    pub current_kib: u64,
    pub peak_kib: u64,
}

impl Process {
    pub fn rss(&self) -> anyhow::Result<Rss> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                .with_context(|| format!("{name} in /proc/{}/status", self.child.id()))
        };
        Ok(Rss {
            current_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }
}

/// A server under test: one process, or the nodes of a cluster.
pub struct Server {
    pub kind: Kind,
    pub nodes: Vec<Process>,
    pub dir: PathBuf,
    pub http: reqwest::Client,
}

impl Server {
    pub async fn start(kind: Kind, env: &Env) -> anyhow::Result<Server> {
        let dir = env.fresh_dir(match kind {
            Kind::Isengard => "isengard",
            Kind::Orthanc => "orthanc",
            Kind::Cluster => "cluster",
        })?;
        let nodes = match kind {
            Kind::Orthanc => vec![start_orthanc(env, &dir)?],
            Kind::Isengard => vec![start_isengard(env, &dir, None)?],
            Kind::Cluster => {
                let grpc = free_ports(3)?;
                let members: serde_json::Map<String, Value> = (1..=3)
                    .map(|id| (id.to_string(), json!(format!("127.0.0.1:{}", grpc[id - 1]))))
                    .collect();
                let blobs = dir.join("blobs");
                std::fs::create_dir_all(&blobs)?;
                let mut nodes = Vec::new();
                for id in 1..=3_u64 {
                    let cluster = json!({
                        "Blobs": { "Url": format!("file://{}", blobs.display()) },
                        "Cluster": { "NodeId": id, "GrpcListen": members[&id.to_string()], "Members": members },
                    });
                    let node_dir = dir.join(format!("node-{id}"));
                    std::fs::create_dir_all(&node_dir)?;
                    nodes.push(start_isengard(env, &node_dir, Some(cluster))?);
                }
                nodes
            }
        };
        let server = Server {
            kind,
            nodes,
            dir,
            // Idle connections dropped before Orthanc's keep-alive timeout
            // (1 s) closes them under a request.
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_millis(500))
                .build()?,
        };
        server.wait_ready().await?;
        if kind == Kind::Orthanc {
            let system = server.get_json(0, "/system").await?;
            *env.orthanc_version.lock().unwrap() =
                system["Version"].as_str().unwrap_or("?").to_owned();
        }
        Ok(server)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let mut ready = true;
            for i in 0..self.nodes.len() {
                let path = if self.kind == Kind::Cluster {
                    "/cluster"
                } else {
                    "/system"
                };
                match self.get_json(i, path).await {
                    Ok(v) if self.kind != Kind::Cluster || v["Leader"].is_u64() => {}
                    _ => ready = false,
                }
            }
            if ready {
                return Ok(());
            }
            if start.elapsed() > START_DEADLINE {
                bail!(
                    "{} did not start within {START_DEADLINE:?}; logs in {}",
                    self.kind.label(),
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, node: usize, path: &str) -> String {
        format!("{}{path}", self.nodes[node % self.nodes.len()].base)
    }

    pub async fn get_json(&self, node: usize, path: &str) -> anyhow::Result<Value> {
        let r = self.http.get(self.url(node, path)).send().await?;
        if !r.status().is_success() {
            bail!("GET {path}: HTTP {}", r.status());
        }
        Ok(r.json().await?)
    }

    /// Instances the server holds (`/statistics`), on node 0.
    pub async fn count_instances(&self) -> anyhow::Result<u64> {
        let stats = self.get_json(0, "/statistics").await?;
        stats["CountInstances"]
            .as_u64()
            .context("CountInstances in /statistics")
    }

    /// Waits until node `node` holds `n` instances (a cluster follower may
    /// lag its leader by a moment).
    pub async fn wait_instances(&self, n: u64) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let count = self.count_instances().await?;
            if count == n {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!(
                    "{} holds {count} instances, expected {n}",
                    self.kind.label()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The largest resident set among the nodes, now and at peak.
    pub fn rss(&self) -> anyhow::Result<Rss> {
        let mut out = Rss::default();
        for node in &self.nodes {
            let rss = node.rss()?;
            out.current_kib = out.current_kib.max(rss.current_kib);
            out.peak_kib = out.peak_kib.max(rss.peak_kib);
        }
        Ok(out)
    }

    /// Stops the processes and deletes the storage.
    pub fn remove(self) {
        let dir = self.dir.clone();
        drop(self);
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn spawn(program: &Path, config: &Path, dir: &Path) -> anyhow::Result<Child> {
    let log = std::fs::File::create(dir.join("log.txt"))?;
    Command::new(program)
        .arg(config)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))
}

fn start_orthanc(env: &Env, dir: &Path) -> anyhow::Result<Process> {
    let ports = free_ports(2)?;
    let storage = dir.join("storage");
    let config = json!({
        "Name": "reference",
        "StorageDirectory": storage,
        "IndexDirectory": storage,
        "HttpPort": ports[0],
        "DicomPort": ports[1],
        "DicomAet": "ORTHANC",
        "StableAge": STABLE_AGE,
        "RemoteAccessAllowed": false,
        "AuthenticationEnabled": false,
        "Plugins": [],
        "DicomModalities": env.modalities(),
    });
    let path = dir.join("orthanc.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    let child = spawn(&env.orthanc, &path, dir)?;
    Ok(Process {
        child,
        base: format!("http://127.0.0.1:{}", ports[0]),
        dicom_port: ports[1],
        aet: "ORTHANC".into(),
    })
}

/// One Isengard node; `isengard` is its `Isengard` section beyond `HttpBind`.
fn start_isengard(env: &Env, dir: &Path, isengard: Option<Value>) -> anyhow::Result<Process> {
    let ports = free_ports(2)?;
    let mut section = isengard.unwrap_or_else(|| json!({}));
    section["HttpBind"] = json!("127.0.0.1");
    let config = json!({
        "Name": "isengard",
        "StorageDirectory": dir.join("storage"),
        "HttpPort": ports[0],
        "DicomPort": ports[1],
        "DicomAet": "ISENGARD",
        "StableAge": STABLE_AGE,
        "RemoteAccessAllowed": false,
        "AuthenticationEnabled": false,
        "DicomModalities": env.modalities(),
        "Isengard": section,
    });
    let path = dir.join("isengard.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    let child = spawn(&env.isengard, &path, dir)?;
    Ok(Process {
        child,
        base: format!("http://127.0.0.1:{}", ports[0]),
        dicom_port: ports[1],
        aet: "ISENGARD".into(),
    })
}
