//! Scaling online: a node that is not in `Members` starts, serves gRPC and
//! waits; it is added through a follower's REST API (learner, catch up,
//! voter) and gets everything; a fifth is added with the `isengard cluster`
//! CLI; then the leader is removed with the CLI while ingest continues, and is
//! gone from every node's `GET /cluster`. Refusals: an unknown node (404), and
//! any change without a quorum (503).

use std::time::Duration;

use isengard_cluster_tests::ingest::{files, SMALL};
use isengard_cluster_tests::membership::{member_ids, Ingest};
use isengard_cluster_tests::{wait_until, TestCluster};
use isengard_test_support::synth::Shape;
use serde_json::Value;

fn is_voter(status: &Value, id: u64) -> bool {
    status["Members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["Id"] == id && m["Voter"] == true)
}

#[tokio::test]
async fn t40_add_a_fourth_and_fifth_node_online_then_remove_the_leader() {
    let mut cluster = TestCluster::start(3).await;
    let files = files(Shape {
        patients: 3,
        instances_per_series: 25,
        seed: 40,
        ..SMALL
    });
    cluster.post_round_robin(&files[..15]).await;

    // A spare node: serves, knows no cluster, refuses writes.
    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    let address4 = cluster.prepare_spare(4);
    cluster.start_node(4);
    let status = cluster.cluster_status(4).await;
    assert_eq!(status["Address"], address4.as_str(), "{status}");
    assert!(
        member_ids(&status).is_empty() && status["Leader"].is_null(),
        "{status}"
    );
    let (status, _) = cluster.post(4, files[15].clone()).await;
    assert_eq!(status, 503, "a node outside the cluster must refuse writes");

    // Added through a follower.
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let adding = std::time::Instant::now();
    let (code, status) = cluster.add_member(follower, 4, &address4).await;
    assert_eq!(code, 200, "{status}");
    eprintln!(
        "node 4 added (learner, caught up, voter) in {:?}",
        adding.elapsed()
    );
    assert_eq!(member_ids(&status), vec![1, 2, 3, 4], "{status}");
    assert!(is_voter(&status, 4), "{status}");
    // The follower that forwarded the change sees it too.
    assert!(is_voter(&cluster.cluster_status(follower).await, 4));
    let instances = cluster.check_consistent(Duration::from_secs(30)).await;
    assert_eq!(instances.len(), 15);

    // A fifth, with the CLI, through the new node.
    let address5 = cluster.prepare_spare(5);
    cluster.start_node(5);
    let (code, out, err) = cluster.cli(4, &["add", "5", &address5]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("node 5 added as a voter") && out.contains(&address5),
        "{out}"
    );
    let (code, out, err) = cluster.cli(5, &["status"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches(" voter ").count(), 5, "{out}");

    // Remove the leader with the CLI while ingest goes on through nodes 4 and 5.
    let ingest = Ingest::start(
        cluster.client.clone(),
        vec![cluster.base(4).to_owned(), cluster.base(5).to_owned()],
        files[15..].to_vec(),
    );
    ingest
        .wait_for_more(10, Duration::from_secs(30), "before the removal")
        .await;
    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    let via = [1, 2, 3, 4, 5]
        .into_iter()
        .find(|id| *id != leader)
        .unwrap();
    let removing = std::time::Instant::now();
    let (code, out, err) = cluster.cli(via, &["remove", &leader.to_string()]).await;
    eprintln!(
        "leader {leader} removed through node {via} in {:?}",
        removing.elapsed()
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("node {leader} removed")), "{out}");
    ingest
        .wait_for_more(10, Duration::from_secs(30), "after the removal")
        .await;
    let acknowledged = ingest.stop().await;
    cluster.kill9(leader);
    let remaining = cluster.live();
    wait_until(
        Duration::from_secs(20),
        "the removed node is gone from every GET /cluster",
        || async {
            for id in cluster.live() {
                let status = cluster.cluster_status(id).await;
                if member_ids(&status).contains(&leader)
                    || status["Leader"].as_u64().is_none_or(|l| l == leader)
                {
                    return false;
                }
            }
            true
        },
    )
    .await;
    let instances = cluster.check_consistent(Duration::from_secs(30)).await;
    assert!(
        acknowledged.is_subset(&instances),
        "acknowledged instances lost"
    );
    assert_eq!(instances.len(), 15 + acknowledged.len());

    // Refusals.
    let (code, body) = cluster.remove_member(remaining[0], leader).await;
    assert_eq!(code, 404, "{body}");
    assert!(
        body["Details"].as_str().unwrap().contains("not a member"),
        "{body}"
    );
    // Four voters: kill three, no quorum left for a membership change.
    for id in &remaining[1..] {
        cluster.kill9(*id);
    }
    let started = std::time::Instant::now();
    let (code, body) = cluster.remove_member(remaining[0], remaining[1]).await;
    assert_eq!(code, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "refusing took {:?}",
        started.elapsed()
    );
}
