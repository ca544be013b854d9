//! `/cluster/members` on one node, in-process: bad requests, refusals with
//! Orthanc-style errors (unknown node, last voter, unreachable or wrong node,
//! address conflict), the idempotent re-add, and the `isengard cluster` CLI
//! against it (output and exit status). Multi-node changes are in
//! cluster-tests (t40).

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{free_port, wait_until, TestNode};

fn assert_error(status: u16, body: &Value, http: u16, orthanc: i64, details: &str) {
    assert_eq!(status, http, "{body}");
    assert_eq!(body["OrthancStatus"], orthanc, "{body}");
    assert!(
        body["Details"]
            .as_str()
            .unwrap_or_default()
            .contains(details),
        "{body}"
    );
}

#[tokio::test]
async fn a_single_node_without_cluster_section_refuses_membership_changes() {
    let node = TestNode::start().await;
    let (status, body) = node.get("/cluster").await;
    assert_eq!(status, 200);
    assert_eq!(body["Address"], Value::Null, "{body}");
    let (status, body) = node.get("/cluster/members").await;
    assert_eq!(
        (status, body.as_array().map(Vec::len)),
        (200, Some(1)),
        "{body}"
    );

    let (status, body) = node.post("/cluster/members", "not json").await;
    assert_error(status, &body, 400, 28, "JSON");
    let (status, body) = node.post("/cluster/members", r#"{"Address": "h:1"}"#).await;
    assert_error(status, &body, 400, 8, "NodeId");
    let (status, body) = node.post("/cluster/members", r#"{"NodeId": 2}"#).await;
    assert_error(status, &body, 400, 8, "Address");
    let (status, body) = node
        .post("/cluster/members", r#"{"NodeId": 2, "Address": "h:1"}"#)
        .await;
    assert_error(status, &body, 400, 8, "without a cluster");
    let (status, body) = node.delete("/cluster/members/abc").await;
    assert_error(status, &body, 400, 8, "not a node id");
    let (status, body) = node.delete("/cluster/members/1").await;
    assert_error(status, &body, 400, 8, "without a cluster");
}

fn isengard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_isengard"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// Multi-threaded: the CLI runs as a blocking child process while the node answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_member_cluster_validates_membership_changes() {
    let grpc = format!("127.0.0.1:{}", free_port());
    let node = TestNode::start_with(|c| {
        c["Isengard"]["Cluster"] =
            json!({"NodeId": 1, "GrpcListen": grpc, "GrpcAdvertise": grpc, "Members": {"1": grpc}});
        // As a single node: one shared blob store.
        c["Isengard"]["Blobs"] = json!({"Mode": "shared"});
    })
    .await;
    wait_until(
        Duration::from_secs(20),
        "node 1 leads its one-member cluster",
        || async { node.get("/cluster").await.1["Leader"] == 1 },
    )
    .await;
    let (_, body) = node.get("/cluster").await;
    assert_eq!(body["Address"], grpc.as_str(), "{body}");
    assert_eq!(body["State"], "Leader", "{body}");

    let (status, body) = node.delete("/cluster/members/7").await;
    assert_error(status, &body, 404, 7, "node 7 is not a member");
    let (status, body) = node.delete("/cluster/members/1").await;
    assert_error(status, &body, 400, 8, "last voter");
    let (status, body) = node
        .post(
            "/cluster/members",
            json!({"NodeId": 1, "Address": "10.0.0.1:4300"}).to_string(),
        )
        .await;
    assert_error(status, &body, 400, 8, "already a member");
    let (status, body) = node
        .post(
            "/cluster/members",
            json!({"NodeId": 2, "Address": "nope"}).to_string(),
        )
        .await;
    assert_error(status, &body, 400, 8, "invalid node address");
    // Nothing listens there.
    let dead = format!("127.0.0.1:{}", free_port());
    let (status, body) = node
        .post(
            "/cluster/members",
            json!({"NodeId": 2, "Address": dead}).to_string(),
        )
        .await;
    assert_error(status, &body, 400, 8, "cannot reach node 2");
    // Node 1 answers at its own address, not node 3.
    let (status, body) = node
        .post(
            "/cluster/members",
            json!({"NodeId": 3, "Address": grpc}).to_string(),
        )
        .await;
    assert_error(status, &body, 400, 8, "is node 1, not node 3");
    // Adding an existing voter at its address changes nothing.
    let (status, body) = node
        .post(
            "/cluster/members",
            json!({"NodeId": 1, "Address": grpc}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Members"].as_array().unwrap().len(), 1, "{body}");

    // The command-line client.
    let url = node.base.clone();
    let (code, out, err) = isengard(&["cluster", "status", "--url", &url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("node 1 (leader)") && out.contains(&grpc) && out.contains("voter"),
        "{out}"
    );
    let (code, out, err) = isengard(&["cluster", "remove", "7", "--url", &url]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("404") && err.contains("node 7 is not a member"),
        "{err}"
    );
    let (code, _, err) = isengard(&["cluster", "add", "2", &dead, "--url", &url]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach node 2"), "{err}");
    let (code, _, err) = isengard(&[
        "cluster",
        "status",
        "--url",
        &format!("http://127.0.0.1:{}", free_port()),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach"), "{err}");
}
