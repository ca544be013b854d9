//! What `POST /instances` accepts besides a plain file, and Orthanc's other
//! request conveniences: gzip bodies, Orthanc Explorer's multipart uploads
//! (lenient headers, jQuery File Upload chunks), emulated methods
//! (`_method`, `X-HTTP-Method-Override`), `limit=0`, and the series-level
//! `RemoteAET` metadata.

use std::io::Write;

use crate::common::{pydicom_test_files, TestNode};
use serde_json::json;

fn file(name: &str) -> Vec<u8> {
    std::fs::read(pydicom_test_files().join("test_files").join(name)).unwrap()
}

fn part(boundary: &str, name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "--{boundary}\r\nContent-Disposition  :   form-data  ; name =\"files[]\"   ; filename = \"{name}\"  \r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

#[tokio::test]
async fn gzip_bodies_and_unknown_encodings() {
    let node = TestNode::start().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&file("CT_small.dcm")).unwrap();
    let gz = gz.finish().unwrap();
    let post = |encoding: &'static str| {
        node.client
            .post(node.url("/instances"))
            .header("Content-Encoding", encoding)
            .body(gz.clone())
            .send()
    };
    assert_eq!(post("nope").await.unwrap().status().as_u16(), 400);
    let stored: serde_json::Value = post("gzip").await.unwrap().json().await.unwrap();
    assert_eq!(stored["Status"], "Success");
    // Without the header, the gzip bytes are no DICOM file.
    let (status, _) = node.post("/instances", gz.clone()).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn multipart_uploads_whole_and_in_chunks() {
    let node = TestNode::start().await;
    let boundary = "----WebKitFormBoundarypJDNQqJPoXiorRmQ";
    let mut body = part(boundary, "a.dcm", &file("CT_small.dcm"));
    body.extend(part(boundary, "b.dcm", &file("MR_small.dcm")));
    body.extend(format!("--{boundary}--").into_bytes());
    let r = node
        .client
        .post(node.url("/instances"))
        .header("Content-Type", format!("multipart/form-data   ;    boundary  =  {boundary}  "))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(node.get("/instances").await.1.as_array().unwrap().len(), 2);

    // One file in three chunks: stored once the last one arrives.
    let rtplan = file("rtplan.dcm");
    let thirds = [&rtplan[..1000], &rtplan[1000..2000], &rtplan[2000..]];
    for (i, chunk) in thirds.iter().enumerate() {
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"files[]\"; filename=\"p.dcm\"\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(chunk);
        body.extend(format!("\r\n--{boundary}").into_bytes());
        let r = node
            .client
            .post(node.url("/instances"))
            .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
            .header("X-File-Name", "p.dcm")
            .header("X-File-Size", rtplan.len().to_string())
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let count = node.get("/instances").await.1.as_array().unwrap().len();
        assert_eq!(count, if i < 2 { 2 } else { 3 }, "after chunk {i}");
    }
    let r = node
        .client
        .post(node.url("/instances"))
        .header("Content-Type", "multipart/form-data; boundary=x")
        .body(b"garbage".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn emulated_methods_limits_and_series_remote_aet() {
    let node = TestNode::start().await;
    node.upload(file("CT_small.dcm")).await;
    let stored = node.upload(file("MR_small.dcm")).await;
    assert_eq!(node.get("/patients?since=0&limit=0").await.1, json!([]));
    assert_eq!(node.get("/patients?since=0&limit=1").await.1.as_array().unwrap().len(), 1);
    let series = stored["ParentSeries"].as_str().unwrap();
    assert_eq!(
        node.get(&format!("/series/{series}/metadata")).await.1,
        json!(["LastUpdate", "RemoteAET"])
    );
    // Google's header on a POST, then Ruby on Rails' `_method` on a GET.
    let patient = stored["ParentPatient"].as_str().unwrap();
    let r = node
        .client
        .post(node.url(&format!("/patients/{patient}")))
        .header("X-HTTP-Method-Override", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(node.get("/patients").await.1.as_array().unwrap().len(), 1);
    let other = node.get("/patients").await.1[0].as_str().unwrap().to_owned();
    let (status, _) = node.get(&format!("/patients/{other}?_method=DELETE")).await;
    assert_eq!(status, 200);
    assert_eq!(node.get("/patients").await.1, json!([]));
}

#[tokio::test]
async fn prometheus_metrics_with_orthancs_names_and_isengards() {
    let node = TestNode::start().await;
    node.upload(file("CT_small.dcm")).await;
    let (_, body) = node.get_bytes("/tools/metrics-prometheus").await;
    let text = String::from_utf8(body).unwrap();
    for name in [
        "orthanc_count_instances 1 ",
        "orthanc_rest_api_active_requests 1 ",
        "isengard_raft_term ",
        "isengard_raft_apply_index ",
        "isengard_raft_commit_index ",
        "isengard_raft_leader_changes 1 ",
        "isengard_dicom_associations_active 0 ",
        "isengard_rest_request_duration_ms_bucket{le=\"+Inf\"} ",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    let (_, enabled) = node.get_bytes("/tools/metrics").await;
    assert_eq!(enabled, b"1");
    let r = node.client.put(node.url("/tools/metrics")).body("0").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, body) = node.get_bytes("/tools/metrics-prometheus").await;
    assert!(body.is_empty());
    let r = node.client.put(node.url("/tools/metrics")).body("maybe").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
