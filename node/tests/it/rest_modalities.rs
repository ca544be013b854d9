//! `/modalities` and `/queries` without the reference Orthanc: the modality
//! CRUD in both of Orthanc's forms, the error answers, and C-ECHO / C-STORE
//! to a dcmtk `storescp` started by the test.

use crate::common;

use std::path::Path;

use common::{free_port, pydicom_test_files, Killed, TestNode};
use serde_json::{json, Value};

/// A free loopback port (bound then released).
/// dcmtk's `storescp` writing into `dir`, listening on a free port.
async fn storescp(dir: &Path, aet: &str) -> (Killed, u16) {
    let port = free_port();
    (common::storescp(dir, aet, port, &[]).await, port)
}

async fn put(node: &TestNode, path: &str, body: Value) -> (u16, String) {
    let r = node
        .client
        .put(node.url(path))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn modality_crud_in_both_forms() {
    let node = TestNode::start().await;
    assert_eq!(node.get("/modalities").await, (200, json!([])));

    assert_eq!(
        put(
            &node,
            "/modalities/short",
            json!(["SHORT", "127.0.0.1", 4243])
        )
        .await,
        (200, String::new())
    );
    let long = json!({"AET": "LONG", "Host": "10.0.0.2", "Port": 104, "AllowStore": false, "Manufacturer": "GE"});
    assert_eq!(put(&node, "/modalities/long", long).await.0, 200);

    assert_eq!(
        node.get("/modalities").await,
        (200, json!(["long", "short"]))
    );
    let (status, expanded) = node.get("/modalities?expand").await;
    assert_eq!(status, 200);
    assert_eq!(
        expanded["short"],
        json!({
            "AET": "SHORT", "AllowEcho": true, "AllowEventReport": true, "AllowFind": true,
            "AllowFindWorklist": true, "AllowGet": true, "AllowMove": true, "AllowNAction": true,
            "AllowStore": true, "AllowTranscoding": true, "Host": "127.0.0.1", "LocalAet": "",
            "Manufacturer": "Generic", "Port": 4243, "Timeout": 0, "UseDicomTls": false
        })
    );
    assert_eq!(expanded["long"]["AllowStore"], json!(false));
    assert_eq!(expanded["long"]["Manufacturer"], json!("GE"));
    assert_eq!(
        node.get("/modalities/long/configuration").await,
        (200, expanded["long"].clone())
    );

    let (status, operations) = node.get("/modalities/short").await;
    assert_eq!(status, 200);
    for op in [
        "configuration",
        "echo",
        "find",
        "find-patient",
        "move",
        "query",
        "store",
    ] {
        assert!(
            operations.as_array().unwrap().contains(&json!(op)),
            "{op} missing from {operations}"
        );
    }

    // Redefining replaces.
    assert_eq!(
        put(
            &node,
            "/modalities/short",
            json!(["SHORT2", "127.0.0.1", 11112])
        )
        .await
        .0,
        200
    );
    assert_eq!(
        node.get("/modalities/short/configuration").await.1["AET"],
        json!("SHORT2")
    );

    let r = node
        .client
        .delete(node.url("/modalities/short"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(node.get("/modalities").await, (200, json!(["long"])));
}

#[tokio::test]
async fn modality_errors_are_orthanc_errors() {
    let node = TestNode::start().await;
    // Unknown modality: Orthanc's empty 404 on the folder, JSON errors elsewhere.
    assert_eq!(node.get("/modalities/nope").await.0, 404);
    let (status, error) = node.get("/modalities/nope/configuration").await;
    assert_eq!(status, 404);
    assert_eq!(error["OrthancStatus"], json!(7));
    assert_eq!(
        error["Details"],
        json!("No modality with symbolic name: nope")
    );
    for op in ["echo", "store", "query", "move", "find-patient"] {
        let (status, error) = node.post(&format!("/modalities/nope/{op}"), "{}").await;
        assert_eq!(status, 404, "{op}: {error}");
        assert_eq!(error["OrthancError"], json!("Accessing an inexistent item"));
    }
    assert_eq!(node.delete("/modalities/nope").await.0, 404);

    // Bad definitions: 400 "Bad file format".
    for bad in [
        json!(["X", "h"]),
        json!(["X", "h", 70000]),
        json!({"AET": "X"}),
        json!("X"),
    ] {
        let (status, body) = put(&node, "/modalities/bad", bad.clone()).await;
        assert_eq!(status, 400, "{bad} accepted");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["OrthancStatus"],
            json!(15)
        );
    }
    let r = node
        .client
        .put(node.url("/modalities/bad"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(node.get("/modalities").await, (200, json!([])));

    // A peer that does not answer: 500 "Error in the network protocol".
    let dead = free_port();
    assert_eq!(
        put(
            &node,
            "/modalities/dead",
            json!(["DEAD", "127.0.0.1", dead])
        )
        .await
        .0,
        200
    );
    let (status, error) = node
        .post("/modalities/dead/echo", r#"{"Timeout": 2}"#)
        .await;
    assert_eq!(status, 500, "{error}");
    assert_eq!(error["OrthancStatus"], json!(9));
    let (status, _) = node
        .post(
            "/modalities/dead/query",
            r#"{"Level": "Study", "Query": {}}"#,
        )
        .await;
    assert_eq!(status, 500);

    // Bad query bodies, as Orthanc answers them.
    let (status, error) = node
        .post("/modalities/dead/query", r#"{"Query": {}}"#)
        .await;
    assert_eq!(
        (status, error["Details"].clone()),
        (400, json!("The JSON body must contain field Level"))
    );
    let (status, error) = node
        .post("/modalities/dead/query", r#"{"Level": "Stud"}"#)
        .await;
    assert_eq!((status, error["OrthancStatus"].clone()), (400, json!(3)));
    let (status, _) = node
        .post(
            "/modalities/dead/query",
            r#"{"Level": "Study", "Query": {"Nope": "x"}}"#,
        )
        .await;
    assert_eq!(status, 400);
    let (status, error) = node
        .post("/modalities/dead/move", r#"{"Resources": []}"#)
        .await;
    assert_eq!((status, error["OrthancStatus"].clone()), (400, json!(15)));
    let (status, error) = node.post("/modalities/dead/store", "not-an-id").await;
    assert_eq!(
        (status, error["Details"].clone()),
        (400, json!("Must provide a JSON value"))
    );
    let (status, error) = node
        .post(
            "/modalities/dead/store",
            r#"["8a8cf898-ca27c490-d0c7058c-929d0581-2bbf1000"]"#,
        )
        .await;
    assert_eq!((status, error["OrthancStatus"].clone()), (404, json!(17)));

    // Unknown queries.
    assert_eq!(node.get("/queries").await, (200, json!([])));
    assert_eq!(node.get("/queries/nope/answers").await.0, 404);
    assert_eq!(node.post("/queries/nope/retrieve", "").await.0, 404);
}

#[tokio::test]
async fn echo_and_store_to_storescp() {
    let node = TestNode::start().await;
    let received = tempfile::tempdir().unwrap();
    let (_scp, port) = storescp(received.path(), "STORESCP").await;
    assert_eq!(
        put(
            &node,
            "/modalities/scp",
            json!(["STORESCP", "127.0.0.1", port])
        )
        .await
        .0,
        200
    );

    assert_eq!(
        node.post("/modalities/scp/echo", "").await,
        (200, json!({}))
    );
    assert_eq!(
        node.post("/modalities/scp/echo", r#"{"Timeout": 5}"#).await,
        (200, json!({}))
    );

    let files = pydicom_test_files().join("test_files");
    let mut studies = Vec::new();
    for name in ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm"] {
        let answer = node.upload(std::fs::read(files.join(name)).unwrap()).await;
        studies.push(answer["ParentStudy"].as_str().unwrap().to_owned());
    }

    // One ID (not even JSON), as Orthanc accepts it.
    let (status, answer) = node.post("/modalities/scp/store", studies[0].clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({
            "Description": "REST API", "FailedInstancesCount": 0, "InstancesCount": 1,
            "LocalAet": "ORTHANC", "ParentResources": [studies[0]], "RemoteAet": "STORESCP"
        })
    );
    // An array, then the object form with a local AET.
    let (status, answer) = node
        .post(
            "/modalities/scp/store",
            json!([studies[1], studies[2]]).to_string(),
        )
        .await;
    assert_eq!((status, answer["InstancesCount"].clone()), (200, json!(2)));
    let body =
        json!({"Resources": [studies[0]], "Synchronous": true, "LocalAet": "OTHER", "Timeout": 5});
    let (status, answer) = node.post("/modalities/scp/store", body.to_string()).await;
    assert_eq!((status, answer["LocalAet"].clone()), (200, json!("OTHER")));
    let (status, answer) = node.post("/modalities/scp/store", "[]").await;
    assert_eq!(status, 200);
    assert_eq!(answer["InstancesCount"], json!(0));
    assert!(answer.get("ParentResources").is_none());

    let count = std::fs::read_dir(received.path()).unwrap().count();
    assert_eq!(count, 3, "storescp received {count} distinct files");
}
