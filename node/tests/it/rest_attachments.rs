//! User attachments, revisions and compression, and the tag routes across
//! instances, against a node started in-process.

use crate::common::TestNode;
use isengard_test_support::synth::Spec;
use serde_json::json;

const HELLO_MD5: &str = "5d41402abc4b2a76b9719d911017c592";

#[tokio::test]
async fn user_attachments_carry_revisions_and_compress_as_orthanc() {
    let node = TestNode::start_with(|doc| {
        doc["CheckRevisions"] = json!(true);
        doc["UserContentType"] = json!({"report": [1030, "application/pdf"]});
    })
    .await;
    let bytes = Spec::simple("P1", "1.2.3.1", "1.2.3.1.1", "1.2.3.1.1.1").to_bytes();
    let id = node.upload(bytes).await["ID"].as_str().unwrap().to_owned();
    let url = |p: &str| node.url(&format!("/instances/{id}/attachments{p}"));
    let put = |p: &str, body: &'static str, if_match: Option<String>| {
        let mut r = node.client.put(url(p)).body(body);
        if let Some(m) = if_match {
            r = r.header("If-Match", m);
        }
        r.send()
    };
    // The DICOM file and numbers below 1024 are not writable; unknown names are unknown.
    assert_eq!(put("/dicom", "x", None).await.unwrap().status(), 403);
    assert_eq!(put("/22", "x", None).await.unwrap().status(), 403);
    assert_eq!(put("/nope", "x", None).await.unwrap().status(), 404);

    let r = put("/report", "hello", None).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], format!("\"0-{HELLO_MD5}\""));
    // Writing over it needs the current revision.
    assert_eq!(put("/report", "hello", None).await.unwrap().status(), 409);
    let r = put("/report", "hello", Some(format!("0-{HELLO_MD5}")))
        .await
        .unwrap();
    assert_eq!(r.headers()["etag"], format!("\"1-{HELLO_MD5}\""));
    let (_, names) = node.get(&format!("/instances/{id}/attachments?full")).await;
    assert_eq!(names, json!({"dicom": 1, "report": 1030}));
    let data = node.client.get(url("/report/data")).send().await.unwrap();
    assert_eq!(data.headers()["content-type"], "application/pdf");
    let cached = node
        .client
        .get(url("/report/data"))
        .header("If-None-Match", format!("\"1-{HELLO_MD5}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    // Compression: Orthanc's zlib form with its 8-byte size prefix.
    assert_eq!(
        node.post(&format!("/instances/{id}/attachments/report/compress"), "")
            .await
            .0,
        200
    );
    let (_, z) = node
        .get_bytes(&format!(
            "/instances/{id}/attachments/report/compressed-data"
        ))
        .await;
    assert_eq!(hex::encode(z), "0500000000000000789ccb48cdc9c90700062c0215");
    let (_, plain) = node
        .get_bytes(&format!("/instances/{id}/attachments/report/data"))
        .await;
    assert_eq!(plain, b"hello");
    let (_, stats) = node.get("/statistics").await;
    assert_ne!(stats["TotalDiskSize"], stats["TotalUncompressedSize"]);

    // Deleting needs If-Match too; a stale revision is a conflict.
    let del = |m: Option<String>| {
        let mut r = node.client.delete(url("/report"));
        if let Some(m) = m {
            r = r.header("If-Match", m);
        }
        r.send()
    };
    assert_eq!(del(None).await.unwrap().status(), 409);
    assert_eq!(
        del(Some(format!("1-{HELLO_MD5}"))).await.unwrap().status(),
        409
    );
    assert_eq!(del(Some("tata".into())).await.unwrap().status(), 400);
    assert_eq!(
        del(Some(format!("2-{HELLO_MD5}"))).await.unwrap().status(),
        200
    );
    assert_eq!(
        del(Some(format!("2-{HELLO_MD5}"))).await.unwrap().status(),
        404
    );
    let (_, stats) = node.get("/statistics").await;
    assert_eq!(stats["TotalDiskSize"], stats["TotalUncompressedSize"]);
}

#[tokio::test]
async fn shared_tags_modules_and_bulk_content_span_the_instances() {
    let node = TestNode::start().await;
    for i in 1..=2 {
        let sop = format!("1.2.3.1.1.{i}");
        node.upload(Spec::simple("P1", "1.2.3.1", "1.2.3.1.1", &sop).to_bytes())
            .await;
    }
    let ids = isengard::dicom::orthanc_ids("P1", "1.2.3.1", "1.2.3.1.1", "1.2.3.1.1.1");
    let (status, shared) = node
        .get(&format!("/patients/{}/shared-tags?short", ids.patient))
        .await;
    assert_eq!(status, 200);
    assert_eq!(shared["0010,0020"], "P1");
    assert!(shared.get("0008,0018").is_none());
    let (_, module) = node
        .get(&format!("/studies/{}/module-patient?simplify", ids.study))
        .await;
    assert_eq!(module["PatientID"], "P1");
    let (_, tags) = node
        .get(&format!("/studies/{}/instances-tags?short", ids.study))
        .await;
    assert_eq!(tags.as_object().unwrap().len(), 2);
    let (status, slices) = node
        .get(&format!("/series/{}/ordered-slices", ids.series))
        .await;
    assert_eq!(status, 200);
    assert_eq!(slices["Dicom"].as_array().unwrap().len(), 2);
    let body = json!({"Resources": [ids.instance, "nope"], "Level": "Study"}).to_string();
    let (_, bulk) = node.post("/tools/bulk-content", body).await;
    assert_eq!(bulk.as_array().unwrap().len(), 1);
    assert_eq!(bulk[0]["ID"], json!(ids.study));
    assert!(bulk[0]["Metadata"].get("LastUpdate").is_some());
    let (status, _) = node.get("/tools/generate-uid").await;
    assert_eq!(status, 404);
    let body = json!({"Resources": [ids.patient]}).to_string();
    assert_eq!(node.post("/tools/bulk-delete", body).await.0, 200);
    let (_, patients) = node.get("/patients").await;
    assert_eq!(patients, json!([]));
}
