//! Isolate one node of three through the transport proxies (every link to and
//! from it cut, open connections closed): it refuses writes quickly (REST 503
//! with Orthanc JSON, C-STORE 0xA700 with an error comment), the other two keep
//! ingesting over REST and C-STORE; once healed it catches up and takes writes
//! again. Done twice: isolating a follower, then the leader (the other two
//! elect a new one; the old leader's refused writes are never committed).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use isengard::dicom::orthanc_ids;
use isengard_cluster_tests::check::{assert_consistent, node_state};
use isengard_cluster_tests::dicom::{StoreError, StoreScu};
use isengard_cluster_tests::{wait_until, ClusterOptions, TestCluster};
use isengard_test_support::synth::Spec;

/// A write on a node without quorum must be refused within this (the node
/// gives up after five seconds; the rest is slack for a loaded machine).
const REFUSAL_BOUND: Duration = Duration::from_secs(10);

fn spec(n: usize) -> Spec {
    let mut s = Spec::simple(
        "T35",
        "1.2.826.0.1.3680043.10.35",
        &format!("1.2.826.0.1.3680043.10.35.{}", n / 10),
        &format!("1.2.826.0.1.3680043.10.35.{}.{n}", n / 10),
    );
    s.instance_number = n as u32 + 1;
    s
}

fn id_of(s: &Spec) -> String {
    orthanc_ids(&s.patient_id, &s.study_uid, &s.series_uid, &s.sop_uid).instance
}

/// C-STORE of one instance on its own association.
async fn c_store(cluster: &TestCluster, node: u64, s: &Spec) -> Result<u16, StoreError> {
    let mut scu = StoreScu::connect(
        cluster.dicom(node),
        "T35SCU",
        "ORTHANC",
        Duration::from_secs(30),
    )
    .await?;
    let outcome = scu.store(&s.to_bytes()).await;
    scu.release().await;
    outcome
}

/// The leader that every node of `nodes` names, if they agree and it is one of them.
async fn leader_among(cluster: &TestCluster, nodes: &[u64]) -> Option<u64> {
    let mut agreed = None;
    for &id in nodes {
        let leader = cluster.get_json(id, "/cluster").await?["Leader"].as_u64()?;
        if agreed.is_some_and(|l| l != leader) {
            return None;
        }
        agreed = Some(leader);
    }
    agreed.filter(|l| nodes.contains(l))
}

/// Isolates `lone`, checks that it refuses writes and that the others go on,
/// heals, and checks that it catches up. `next` numbers the instances.
async fn isolate_and_heal(
    cluster: &TestCluster,
    lone: u64,
    next: &mut usize,
    acknowledged: &mut BTreeSet<String>,
) {
    let others: Vec<u64> = cluster.ids().into_iter().filter(|id| *id != lone).collect();
    let was_leader = cluster.wait_for_leader(Duration::from_secs(30)).await == lone;
    let role = if was_leader { "leader" } else { "follower" };
    // Everything acknowledged so far has reached it (a follower applies a
    // write a heartbeat after the majority acknowledged it).
    wait_until(
        Duration::from_secs(30),
        "the node to isolate has every acknowledged instance",
        || async {
            node_state(cluster, lone)
                .await
                .is_ok_and(|s| s.instances == *acknowledged)
        },
    )
    .await;
    let before = acknowledged.clone();
    cluster.proxies().isolate(lone);
    let isolated = Instant::now();

    // The two others have (or elect) a leader among themselves.
    let leader = loop {
        if let Some(leader) = leader_among(cluster, &others).await {
            break leader;
        }
        assert!(
            isolated.elapsed() < Duration::from_secs(30),
            "nodes {others:?} agree on no leader among them"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "isolated {role} {lone}: nodes {others:?} follow {leader} after {:?}",
        isolated.elapsed()
    );

    // The isolated node refuses writes, quickly, over REST and DICOM.
    let refused_rest = spec(*next);
    let started = Instant::now();
    let (status, body) = cluster.post(lone, refused_rest.to_bytes()).await;
    let rest_took = started.elapsed();
    assert_eq!(status, 503, "a write on the isolated {role}: {body}");
    assert_eq!(body["HttpStatus"], 503, "{body}");
    assert_eq!(body["OrthancStatus"], 36, "{body}");
    let refused_dicom = spec(*next + 1);
    let started = Instant::now();
    let outcome = c_store(cluster, lone, &refused_dicom).await;
    let dicom_took = started.elapsed();
    match &outcome {
        Err(StoreError::Status {
            status: 0xA700,
            comment: Some(comment),
        }) => {
            assert!(
                comment.contains("no leader") && comment.contains("quorum"),
                "ErrorComment: {comment}"
            )
        }
        other => {
            panic!("a C-STORE on the isolated {role} answered {other:?}, not 0xA700 with a comment")
        }
    }
    eprintln!("isolated {role} {lone}: REST write refused (503) in {rest_took:?}, C-STORE refused (A700) in {dicom_took:?}");
    assert!(
        rest_took < REFUSAL_BOUND && dicom_took < REFUSAL_BOUND,
        "refusing took {rest_took:?} / {dicom_took:?}"
    );
    *next += 2;

    // The majority keeps ingesting, over both protocols, through both nodes.
    let started = Instant::now();
    for i in 0..12 {
        let node = others[i % 2];
        let s = spec(*next);
        *next += 1;
        if i % 3 == 2 {
            c_store(cluster, node, &s)
                .await
                .unwrap_or_else(|e| panic!("C-STORE on node {node} of the majority: {e}"));
            acknowledged.insert(id_of(&s));
        } else {
            let (status, body) = cluster.post(node, s.to_bytes()).await;
            assert_eq!(status, 200, "POST on node {node} of the majority: {body}");
            acknowledged.insert(body["ID"].as_str().unwrap().to_owned());
        }
    }
    eprintln!(
        "isolated {role} {lone}: the majority took 12 instances in {:?}",
        started.elapsed()
    );
    // The isolated node saw none of it (it still answers reads).
    assert_eq!(
        node_state(cluster, lone).await.unwrap().instances,
        before,
        "the isolated node learnt of writes"
    );
    let refused = cluster.proxies().refused();
    let tried: u64 = refused
        .iter()
        .filter(|((s, d), _)| *s == lone || *d == lone)
        .map(|(_, n)| n)
        .sum();
    eprintln!("isolated {role} {lone}: {tried} connections refused on its links ({refused:?})");
    assert!(
        tried > 0,
        "nobody tried to reach the isolated node, or the cut let them through"
    );

    // Heal: it catches up with the others, and takes writes again.
    cluster.proxies().heal();
    let healed = Instant::now();
    wait_until(
        Duration::from_secs(60),
        "the healed node has every instance",
        || async {
            node_state(cluster, lone)
                .await
                .is_ok_and(|s| s.instances == *acknowledged)
        },
    )
    .await;
    eprintln!("healed {role} {lone}: caught up in {:?}", healed.elapsed());
    let started = Instant::now();
    let s = spec(*next);
    *next += 1;
    loop {
        let (status, body) = cluster.post(lone, s.to_bytes()).await;
        if status == 200 {
            acknowledged.insert(body["ID"].as_str().unwrap().to_owned());
            break;
        }
        // A healed leader may still be stepping down.
        assert_eq!(status, 503, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the healed node does not take writes"
        );
    }
    eprintln!(
        "healed {role} {lone}: takes writes again after {:?}",
        healed.elapsed()
    );
    let state = assert_consistent(cluster, Duration::from_secs(30)).await;
    assert_eq!(state.instances, *acknowledged, "lost or invented instances");
    for refused in [&refused_rest, &refused_dicom] {
        assert!(
            !state.instances.contains(&id_of(refused)),
            "a write the isolated node refused was committed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t35_isolated_node_refuses_writes_others_go_on_then_it_catches_up() {
    let cluster = TestCluster::start_with(
        3,
        ClusterOptions {
            proxied: true,
            ..Default::default()
        },
    )
    .await;
    let mut acknowledged = BTreeSet::new();
    let mut next = 0;
    for node in cluster.ids() {
        let (status, body) = cluster.post(node, spec(next).to_bytes()).await;
        assert_eq!(status, 200, "{body}");
        acknowledged.insert(body["ID"].as_str().unwrap().to_owned());
        next += 1;
    }

    let leader = cluster.wait_for_leader(Duration::from_secs(30)).await;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    isolate_and_heal(&cluster, follower, &mut next, &mut acknowledged).await;
    let leader = cluster.wait_for_leader(Duration::from_secs(30)).await;
    isolate_and_heal(&cluster, leader, &mut next, &mut acknowledged).await;
    eprintln!(
        "connections of unidentified source (closed): {}",
        cluster.proxies().unidentified()
    );
}
