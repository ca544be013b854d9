//! Fault injection on the node-to-node transport: one TCP proxy in front of
//! each node's gRPC port, and per directed link a switch that cuts it.
//!
//! Every node's `Members` names the *proxy* of each node, so all Raft, forwarded
//! write (and blob) traffic to node `d` passes through proxy `d`. The Raft
//! membership stores the addresses of the node that initialized the cluster and
//! every node dials those, so the proxies cannot be told apart by address;
//! instead a proxy finds the *source* of a connection from its peer socket:
//! the connecting socket's inode in `/proc/net/tcp`, and the registered node
//! process that holds that inode among its `/proc/<pid>/fd`. A directed link
//! `s → d` is node `s`'s connections to proxy `d` (its requests and their
//! answers).
//!
//! Cutting a link closes the link's open connections at once (gRPC channels
//! are long-lived HTTP/2 connections, so refusing new ones alone would cut
//! nothing) and closes every new one right after accepting it while the cut
//! lasts: the client sees its connection fail and tonic reports `Unavailable`,
//! as for a dead peer. A connection whose source cannot be found (its client
//! has gone already) is closed too, so nothing slips through a cut.
//! [`Proxies::isolate`], [`Proxies::partition`] and
//! [`Proxies::heal`] are built on [`Proxies::cut`].
//!
//! The proxies run on a runtime of their own, in their own thread: a test that
//! blocks its own runtime (starting a node waits on a channel) does not stall
//! the cluster's traffic. Linux only (`/proc`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A node id, as in `Isengard.Cluster.Members`.
pub type NodeId = u64;

/// The proxies of one cluster; dropping it stops them and closes every
/// proxied connection.
pub struct Proxies {
    state: Arc<State>,
    ports: BTreeMap<NodeId, u16>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct State {
    /// Process id of each running node, for finding a connection's source.
    pids: Mutex<HashMap<u32, NodeId>>,
    links: Mutex<Links>,
}

#[derive(Default)]
struct Links {
    /// Directed links `(source, destination)` that are cut.
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Open proxied connections: (source, destination, the task copying bytes).
    open: Vec<(NodeId, NodeId, AbortHandle)>,
    /// Connections closed because their link was cut, per link.
    refused: BTreeMap<(NodeId, NodeId), u64>,
    /// Connections whose source could not be identified (they were closed).
    unidentified: u64,
}

impl Links {
    fn forget_finished(&mut self) {
        self.open.retain(|(_, _, task)| !task.is_finished());
    }
}

impl Proxies {
    /// Starts one proxy per node: `upstream[id]` is node `id`'s real gRPC
    /// address; each proxy listens on a fresh loopback port ([`Proxies::port`]).
    pub fn start(upstream: &BTreeMap<NodeId, SocketAddr>) -> Proxies {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("proxy runtime");
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("cluster-proxies".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let _ = stopped.await;
                });
                // Dropping the runtime here cancels every proxy task, which
                // closes their sockets.
            })
            .expect("proxy thread");
        let state = Arc::new(State::default());
        let mut ports = BTreeMap::new();
        for (&dst, &target) in upstream {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a proxy port");
            listener
                .set_nonblocking(true)
                .expect("non-blocking proxy listener");
            let port = listener.local_addr().expect("proxy address").port();
            ports.insert(dst, port);
            let state = state.clone();
            handle.spawn(async move {
                let listener = TcpListener::from_std(listener).expect("tokio proxy listener");
                accept_loop(listener, port, dst, target, state).await;
            });
        }
        Proxies {
            state,
            ports,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The port of the proxy in front of node `id`.
    pub fn port(&self, id: NodeId) -> u16 {
        self.ports[&id]
    }

    /// Records that process `pid` is node `id` (call it right after spawning
    /// the node, before it can dial anyone).
    pub fn register(&self, pid: u32, id: NodeId) {
        let mut pids = self.state.pids.lock().unwrap();
        pids.retain(|_, node| *node != id);
        pids.insert(pid, id);
    }

    /// Cuts the directed link `src → dst`: closes its open connections and
    /// refuses new ones until [`Proxies::restore`] or [`Proxies::heal`].
    pub fn cut(&self, src: NodeId, dst: NodeId) {
        let mut links = self.state.links.lock().unwrap();
        links.cut.insert((src, dst));
        links.open.retain(|(s, d, task)| {
            let hit = *s == src && *d == dst;
            if hit {
                task.abort();
            }
            !hit
        });
    }

    /// Restores the directed link `src → dst`.
    pub fn restore(&self, src: NodeId, dst: NodeId) {
        self.state.links.lock().unwrap().cut.remove(&(src, dst));
    }

    /// Cuts every link to and from node `id` (among the proxied nodes).
    pub fn isolate(&self, id: NodeId) {
        for &other in self.ports.keys().filter(|&&o| o != id) {
            self.cut(id, other);
            self.cut(other, id);
        }
    }

    /// Cuts every link between nodes of different `groups`, both ways.
    pub fn partition(&self, groups: &[&[NodeId]]) {
        for (i, a) in groups.iter().enumerate() {
            for b in &groups[i + 1..] {
                for &x in a.iter() {
                    for &y in b.iter() {
                        self.cut(x, y);
                        self.cut(y, x);
                    }
                }
            }
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.state.links.lock().unwrap().cut.clear();
    }

    /// The directed links currently cut.
    pub fn cut_links(&self) -> BTreeSet<(NodeId, NodeId)> {
        self.state.links.lock().unwrap().cut.clone()
    }

    /// How many connections each cut link refused or closed so far.
    pub fn refused(&self) -> BTreeMap<(NodeId, NodeId), u64> {
        self.state.links.lock().unwrap().refused.clone()
    }

    /// Open proxied connections per directed link.
    pub fn open_connections(&self) -> BTreeMap<(NodeId, NodeId), usize> {
        let mut links = self.state.links.lock().unwrap();
        links.forget_finished();
        let mut counts = BTreeMap::new();
        for (s, d, _) in &links.open {
            *counts.entry((*s, *d)).or_default() += 1;
        }
        counts
    }

    /// Connections whose source node could not be identified: closed at once
    /// (their client had gone, or they came from no registered node).
    pub fn unidentified(&self) -> u64 {
        self.state.links.lock().unwrap().unidentified
    }
}

impl Drop for Proxies {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    port: u16,
    dst: NodeId,
    target: SocketAddr,
    state: Arc<State>,
) {
    loop {
        let Ok((client, peer)) = listener.accept().await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let state = state.clone();
        // Finding the source reads /proc: off the accept loop.
        tokio::spawn(async move {
            let pids = state.pids.lock().unwrap().clone();
            let src = tokio::task::spawn_blocking(move || {
                (0..3).find_map(|attempt| {
                    if attempt > 0 {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    source_node(peer, port, &pids)
                })
            })
            .await
            .ok()
            .flatten();
            let mut links = state.links.lock().unwrap();
            links.forget_finished();
            match src {
                // Closed at once: the client's HTTP/2 handshake fails.
                Some(s) if links.cut.contains(&(s, dst)) => {
                    *links.refused.entry((s, dst)).or_default() += 1
                }
                // The connecting socket is gone already (or not a node's):
                // nothing to carry, and nothing may slip through a cut.
                None => links.unidentified += 1,
                Some(s) => {
                    let task = tokio::spawn(pipe(client, target));
                    links.open.push((s, dst, task.abort_handle()));
                }
            }
        });
    }
}

/// Copies bytes both ways between the client and the node until either side
/// closes (or the task is aborted by a cut, which drops both sockets).
async fn pipe(mut client: TcpStream, target: SocketAddr) {
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// The node whose process owns the client socket `peer` connected to our
/// listening `port`: its inode from `/proc/net/tcp`, then the registered
/// process holding that inode.
fn source_node(peer: SocketAddr, port: u16, pids: &HashMap<u32, NodeId>) -> Option<NodeId> {
    let inode = socket_inode(peer.port(), port)?;
    let wanted = format!("socket:[{inode}]");
    for (&pid, &node) in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == wanted.as_str()) {
                return Some(node);
            }
        }
    }
    None
}

/// The inode of the IPv4 or IPv6 TCP socket bound to `local_port` and
/// connected to `remote_port`.
fn socket_inode(local_port: u16, remote_port: u16) -> Option<u64> {
    let local = format!(":{local_port:04X}");
    let remote = format!(":{remote_port:04X}");
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 9 && fields[1].ends_with(&local) && fields[2].ends_with(&remote) {
                if let Ok(inode) = fields[9].parse::<u64>() {
                    if inode != 0 {
                        return Some(inode);
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An echo server standing in for a node.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn roundtrip(s: &mut TcpStream) -> bool {
        if s.write_all(b"ping").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 4];
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read_exact(&mut buf)).await,
            Ok(Ok(_))
        )
    }

    /// This test process plays node 1: its connections are identified, cut
    /// (existing ones closed, new ones refused) and restored.
    #[tokio::test]
    async fn cut_closes_open_connections_and_refuses_new_ones() {
        let upstream = BTreeMap::from([(2, echo_server().await)]);
        let proxies = Proxies::start(&upstream);
        proxies.register(std::process::id(), 1);
        let addr = ("127.0.0.1", proxies.port(2));
        let mut open = TcpStream::connect(addr).await.unwrap();
        assert!(roundtrip(&mut open).await);
        assert_eq!(proxies.open_connections().get(&(1, 2)), Some(&1));

        proxies.cut(1, 2);
        assert!(
            !roundtrip(&mut open).await,
            "an open connection survived the cut"
        );
        let mut fresh = TcpStream::connect(addr).await.unwrap();
        assert!(
            !roundtrip(&mut fresh).await,
            "a new connection passed a cut link"
        );
        assert_eq!(proxies.refused()[&(1, 2)], 1);

        proxies.heal();
        let mut again = TcpStream::connect(addr).await.unwrap();
        assert!(roundtrip(&mut again).await);
        assert_eq!(proxies.unidentified(), 0);
    }

    #[tokio::test]
    async fn isolate_and_partition_cut_both_directions() {
        let addr: SocketAddr = ([127, 0, 0, 1], 9).into();
        let proxies = Proxies::start(&BTreeMap::from([(1, addr), (2, addr), (3, addr)]));
        proxies.isolate(2);
        assert_eq!(
            proxies.cut_links(),
            BTreeSet::from([(1, 2), (2, 1), (2, 3), (3, 2)])
        );
        proxies.heal();
        assert!(proxies.cut_links().is_empty());
        proxies.partition(&[&[1, 2], &[3]]);
        assert_eq!(
            proxies.cut_links(),
            BTreeSet::from([(1, 3), (3, 1), (2, 3), (3, 2)])
        );
        proxies.restore(1, 3);
        assert_eq!(
            proxies.cut_links(),
            BTreeSet::from([(3, 1), (2, 3), (3, 2)])
        );
    }
}
