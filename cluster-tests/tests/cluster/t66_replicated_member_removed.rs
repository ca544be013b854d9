//! The replicated blob mode across membership changes, 3 nodes and
//! `Replicas: 2`: the leader, which holds copies, is removed with
//! `DELETE /cluster/members/{id}` and stopped; the repair started by the
//! membership change (the periodic pass is set to an hour, so it cannot be the
//! one that does it) restores two holders among the two remaining members for
//! every blob, and everything stays readable. A fourth node added online then
//! receives copies of new instances.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use isengard_cluster_tests::ingest::{files, SMALL};
use isengard_cluster_tests::membership::member_ids;
use isengard_cluster_tests::{sha256_hex, wait_until, BlobSetup, ClusterOptions, TestCluster};
use isengard_test_support::synth::Shape;

/// Posts `file` to node `node`; answers (instance id, blob hash).
async fn post(cluster: &TestCluster, node: u64, file: &[u8]) -> (String, String) {
    (cluster.post_ok(node, file.to_vec()).await, sha256_hex(file))
}

/// Whether every instance has two holders, all among `members`, as node
/// `via` reports them, each holding a sound copy on its disk.
async fn two_copies_on(
    cluster: &TestCluster,
    via: u64,
    members: &[u64],
    posted: &BTreeMap<String, String>,
) -> bool {
    for (id, hash) in posted {
        let Some((uuid, holders)) = cluster.holders(via, id).await else {
            return false;
        };
        assert_eq!(&uuid, hash);
        if holders.len() != 2 || !holders.iter().all(|h| members.contains(h)) {
            return false;
        }
        if !holders.iter().all(|h| {
            cluster
                .node_blob(*h, hash)
                .is_some_and(|b| sha256_hex(&b) == *hash)
        }) {
            return false;
        }
    }
    true
}

#[tokio::test]
async fn t66_replicated_copies_follow_member_removal_and_addition() {
    let options = ClusterOptions {
        blobs: BlobSetup::Replicated {
            replicas: 2,
            repair_interval_s: 3600,
        },
        ..Default::default()
    };
    let mut cluster = TestCluster::start_with(3, options).await;
    let files = files(Shape {
        instances_per_series: 4,
        rows: 16,
        columns: 16,
        seed: 66,
        ..SMALL
    });
    let mut posted = BTreeMap::new();
    for (i, file) in files[..12].iter().enumerate() {
        let (id, hash) = post(&cluster, 1 + i as u64 % 3, file).await;
        posted.insert(id, hash);
    }
    cluster.check_consistent(Duration::from_secs(30)).await;
    assert!(
        two_copies_on(&cluster, 1, &[1, 2, 3], &posted).await,
        "two copies of every blob after ingest"
    );

    // Remove the leader, which holds copies, through a follower, and stop it.
    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    let mut held = 0;
    for id in posted.keys() {
        held += usize::from(cluster.holders(1, id).await.unwrap().1.contains(&leader));
    }
    assert!(
        held > 0,
        "the leader holds no copy: the test proves nothing"
    );
    let remaining: Vec<u64> = [1, 2, 3].into_iter().filter(|n| *n != leader).collect();
    let removing = Instant::now();
    let (code, body) = cluster.remove_member(remaining[0], leader).await;
    assert_eq!(code, 200, "{body}");
    cluster.stop_node(leader).await;
    wait_until(
        Duration::from_secs(30),
        "every blob has two holders among the remaining members",
        || async {
            for node in &remaining {
                if !two_copies_on(&cluster, *node, &remaining, &posted).await {
                    return false;
                }
            }
            true
        },
    )
    .await;
    eprintln!(
        "node {leader} (holder of {held} of {} blobs) removed; two copies each restored on {remaining:?} in {:?}",
        posted.len(),
        removing.elapsed()
    );
    let instances = cluster.check_consistent(Duration::from_secs(30)).await;
    assert_eq!(instances.len(), posted.len());

    // A fourth node, added online, gets copies of new instances.
    let address4 = cluster.prepare_spare(4);
    cluster.start_node(4);
    let (code, status) = cluster.add_member(remaining[1], 4, &address4).await;
    assert_eq!(code, 200, "{status}");
    let mut members = remaining.clone();
    members.push(4);
    assert_eq!(member_ids(&status), members, "{status}");
    let mut fresh = BTreeMap::new();
    let mut copied_to_4 = 0;
    for (i, file) in files[12..].iter().enumerate() {
        let receiver = members[i % 3];
        let (id, hash) = post(&cluster, receiver, file).await;
        let (_, holders) = cluster.holders(receiver, &id).await.unwrap();
        assert!(
            holders.contains(&receiver),
            "the receiving node {receiver} is a holder of {id}"
        );
        if receiver != 4 && holders.contains(&4) {
            assert!(
                cluster
                    .node_blob(4, &hash)
                    .is_some_and(|b| sha256_hex(&b) == hash),
                "node 4's copy of {hash}"
            );
            copied_to_4 += 1;
        }
        fresh.insert(id, hash);
    }
    for node in &members {
        assert!(
            two_copies_on(&cluster, *node, &members, &fresh).await,
            "two copies of every new blob, seen from node {node}"
        );
    }
    let through_others = fresh.len() - fresh.len() / 3;
    eprintln!("node 4 got copies of {copied_to_4} of the {through_others} new blobs posted through the other nodes");
    assert!(
        copied_to_4 > 0,
        "ingest never placed a copy on the new member"
    );
    // The old blobs keep their two copies; node 4 reads them from a holder.
    posted.extend(fresh);
    assert!(two_copies_on(&cluster, 4, &members, &posted).await);
    let instances = cluster.check_consistent(Duration::from_secs(30)).await;
    assert_eq!(instances.len(), posted.len());
}
