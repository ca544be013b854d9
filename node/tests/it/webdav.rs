//! WebDAV at `/webdav`: the folders Orthanc 1.10.1 shows (checked against
//! the reference for the same files), uploads through PUT into `uploads/`,
//! MKCOL and DELETE there, DELETE of DICOM resources only with
//! `WebDavDeleteAllowed`, nothing at all without `WebDavEnabled`.

use crate::common;

use std::time::Duration;

use common::reference::ReferenceOrthanc;
use common::TestNode;
use isengard_test_support::synth::Spec;
use isengard_test_support::wait_until;
use reqwest::{Client, Method};

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

/// `(href, displayname, is folder)` of each response of a PROPFIND, in order.
async fn propfind(
    client: &Client,
    base: &str,
    path: &str,
    depth: &str,
) -> (u16, Vec<(String, String, bool)>) {
    let r = client
        .request(method("PROPFIND"), format!("{base}{path}"))
        .header("Depth", depth)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let mut out = Vec::new();
    for part in text.split("<D:response>").skip(1) {
        let field = |name: &str| {
            let open = format!("<D:{name}>");
            part.split_once(&open)
                .and_then(|(_, rest)| rest.split_once(&format!("</D:{name}>")))
                .map(|(v, _)| v.to_owned())
                .unwrap_or_default()
        };
        let folder = part.contains("<D:collection");
        out.push((field("href"), field("displayname"), folder));
    }
    (status, out)
}

fn files() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (patient, study, series, n) in [
        ("P1", "1.2.8.1", "1.2.8.1.1", 1),
        ("P1", "1.2.8.1", "1.2.8.1.1", 2),
        ("P2", "1.2.8.2", "1.2.8.2.1", 1),
    ] {
        let mut spec = Spec::simple(patient, study, series, &format!("{series}.{n}"));
        spec.patient_name = format!("Name^{patient}");
        spec.study_description = "Knee".into();
        spec.study_date = "20080819".into();
        out.push(spec.to_bytes());
    }
    out
}

#[tokio::test]
async fn folders_are_the_reference_s() {
    let node = TestNode::start().await;
    let orthanc = ReferenceOrthanc::start_with(serde_json::json!({"WebDavEnabled": true})).await;
    for f in files() {
        node.upload(f.clone()).await;
        orthanc.upload(f).await;
    }
    let paths = [
        "/webdav",
        "/webdav/by-patients",
        "/webdav/by-patients/P1%20-%20Name%5EP1",
        "/webdav/by-patients/P1%20-%20Name%5EP1/20080819%20-%20Knee",
        "/webdav/by-studies",
        "/webdav/by-dates",
        "/webdav/by-dates/2008",
        "/webdav/by-dates/2008/2008-08",
        "/webdav/by-uids",
        "/webdav/by-uids/1.2.8.1",
        "/webdav/by-uids/1.2.8.1/1.2.8.1.1",
        "/webdav/by-uids/1.2.8.1/1.2.8.1.1/1.2.8.1.1.1.dcm",
        "/webdav/by-uids/nope",
    ];
    for path in paths {
        for depth in ["0", "1"] {
            let ours = propfind(&node.client, &node.base, path, depth).await;
            let theirs = propfind(&orthanc.client, &orthanc.base, path, depth).await;
            let sorted = |(s, mut v): (u16, Vec<(String, String, bool)>)| {
                v.sort();
                (s, v)
            };
            assert_eq!(
                sorted(ours),
                sorted(theirs),
                "PROPFIND {path} depth {depth}"
            );
        }
    }
    let (status, _) = propfind(&node.client, &node.base, "/webdav", "2").await;
    assert!(status >= 400, "depth 2 is refused");
    let file = "/webdav/by-uids/1.2.8.1/1.2.8.1.1/1.2.8.1.1.2.dcm";
    let (status, bytes) = node.get_bytes(file).await;
    assert_eq!((status, bytes), (200, files()[1].clone()));
    let r = node
        .client
        .request(method("MOVE"), node.url(file))
        .send()
        .await
        .unwrap();
    let theirs = orthanc
        .client
        .request(method("MOVE"), orthanc.url(file))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), theirs.status(), "MOVE");
    // Not allowed by default.
    let r = node
        .client
        .delete(node.url("/webdav/by-uids/1.2.8.2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn uploads_are_ingested_and_deletion_follows_the_option() {
    let node = TestNode::start_with(|doc| {
        doc["WebDavDeleteAllowed"] = true.into();
    })
    .await;
    let put = |path: &str, body: Vec<u8>| node.client.put(node.url(path)).body(body).send();
    assert_eq!(
        put("/webdav/uploads/a/b.dcm", files()[0].clone())
            .await
            .unwrap()
            .status(),
        403,
        "no folder a"
    );
    let r = node
        .client
        .request(method("MKCOL"), node.url("/webdav/uploads/a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        put("/webdav/uploads/a/b.dcm", files()[0].clone())
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        put("/webdav/uploads/a/c.txt", b"not dicom".to_vec())
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        put("/webdav/by-uids/x", files()[1].clone())
            .await
            .unwrap()
            .status(),
        403
    );
    wait_until(
        Duration::from_secs(10),
        "the upload is ingested and removed",
        || async {
            let (_, list) = propfind(&node.client, &node.base, "/webdav/uploads/a", "1").await;
            node.get("/instances")
                .await
                .1
                .as_array()
                .is_some_and(|a| a.len() == 1)
                && list.len() == 1
        },
    )
    .await;
    let r = node
        .client
        .delete(node.url("/webdav/uploads/a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, _) = propfind(&node.client, &node.base, "/webdav/uploads/a", "0").await;
    assert_eq!(status, 404);
    let r = node
        .client
        .delete(node.url("/webdav/by-uids/1.2.8.1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(node.get("/studies").await.1, serde_json::json!([]));
}

#[tokio::test]
async fn disabled_webdav_is_not_there() {
    let node = TestNode::start_with(|doc| {
        doc["WebDavEnabled"] = false.into();
    })
    .await;
    let (status, _) = propfind(&node.client, &node.base, "/webdav", "0").await;
    assert_eq!(status, 404);
    let (status, _) = node.get_bytes("/webdav/by-uids").await;
    assert_eq!(status, 404);
}
