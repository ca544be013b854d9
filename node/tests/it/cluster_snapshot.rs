//! The Raft transport end to end, in-process: three `cluster::Node::open_cluster`
//! members served by the `Raft` gRPC service on port-0 listeners. Two form the
//! cluster and take writes (through either, so forwarding too); the leader
//! snapshots and purges its log; the third member then starts empty and can
//! only catch up through a snapshot sent in chunks over gRPC.

use std::collections::BTreeMap;
use std::time::Duration;

use isengard::cluster::Node;
use isengard::cluster::RaftService;
use isengard::config::ClusterConfig;
use isengard::index::{Command, Modality};
use tokio::net::TcpListener;

async fn serve(node: &Node, listener: TcpListener) -> tokio::task::JoinHandle<()> {
    let service = RaftService::new(node.raft().clone()).into_server();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    })
}

fn modality(n: usize) -> Modality {
    Modality {
        name: format!("m{n:03}"),
        aet: format!("AET{n}"),
        host: "127.0.0.1".into(),
        port: 104,
        manufacturer: "Generic".into(),
        allow_echo: true,
        allow_find: true,
        allow_get: true,
        allow_move: true,
        allow_store: true,
        allow_n_action: false,
        allow_event_report: false,
        allow_find_worklist: false,
        allow_transcoding: true,
        local_aet: String::new(),
        timeout: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_member_catches_up_by_snapshot_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let mut listeners = BTreeMap::new();
    for id in 1..=3u64 {
        listeners.insert(id, TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let members: BTreeMap<u64, String> = listeners
        .iter()
        .map(|(id, l)| (*id, l.local_addr().unwrap().to_string()))
        .collect();
    let config = |id: u64| {
        ClusterConfig::new(
            id,
            members[&id].parse().unwrap(),
            members[&id].clone(),
            members.clone(),
        )
    };

    // Node 3 must not accept connections before it starts: requests queued in
    // its backlog would hand it the log before the leader purges it.
    drop(listeners.remove(&3));

    let mut nodes = BTreeMap::new();
    let mut servers = Vec::new();
    for id in 1..=2u64 {
        let index = Node::open_cluster(&dir.path().join(format!("n{id}")), &config(id))
            .await
            .unwrap();
        servers.push(serve(&index, listeners.remove(&id).unwrap()).await);
        nodes.insert(id, index);
    }
    nodes[&1].wait_for_leader().await.unwrap();

    for n in 0..40 {
        let via = &nodes[&(1 + n as u64 % 2)];
        via.write(Command::PutModality {
            modality: modality(n),
        })
        .await
        .unwrap();
    }
    let leader = nodes
        .values()
        .find(|i| i.is_leader())
        .expect("one of the two leads")
        .clone();
    let last = leader.raft().metrics().borrow().last_applied.unwrap().index;
    leader.raft().trigger().snapshot().await.unwrap();
    leader
        .raft()
        .wait(Some(Duration::from_secs(20)))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= last),
            "the leader snapshotted",
        )
        .await
        .unwrap();
    leader.raft().trigger().purge_log(last).await.unwrap();
    leader
        .raft()
        .wait(Some(Duration::from_secs(20)))
        .metrics(
            |m| m.purged.is_some_and(|p| p.index >= last),
            "the leader purged its log",
        )
        .await
        .unwrap();

    let third = Node::open_cluster(&dir.path().join("n3"), &config(3))
        .await
        .unwrap();
    let listener = TcpListener::bind(&members[&3])
        .await
        .expect("node 3's port is still free");
    servers.push(serve(&third, listener).await);
    // Caught up, and through a snapshot: the leader has no log before `last`.
    third
        .raft()
        .wait(Some(Duration::from_secs(30)))
        .metrics(
            |m| {
                m.snapshot.is_some_and(|s| s.index >= last)
                    && m.last_applied.is_some_and(|a| a.index >= last)
            },
            "the new member installed the snapshot",
        )
        .await
        .unwrap();
    assert_eq!(third.reader().modalities().unwrap().len(), 40);
    assert_eq!(third.reader().modality("m039").unwrap(), Some(modality(39)));

    // The new member takes writes too (forwarded to the leader).
    third
        .write(Command::PutModality {
            modality: modality(40),
        })
        .await
        .unwrap();
    assert_eq!(third.reader().modality("m040").unwrap(), Some(modality(40)));

    for index in nodes.values().chain([&third]) {
        index.shutdown().await;
    }
    for server in servers {
        server.abort();
    }
}
