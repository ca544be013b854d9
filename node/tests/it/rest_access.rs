//! Access control over HTTP: `AuthenticationEnabled` with `RegisteredUsers`
//! (401 and a Basic challenge without or with wrong credentials, 200 with
//! good ones) and the `HttpUsername` metadata of an upload. The
//! `RemoteAccessAllowed` decision cannot be exercised over loopback: it is
//! unit-tested in `http/auth.rs` (`decide`).

use crate::common;

use common::TestNode;
use isengard_test_support::synth::Spec;
use serde_json::json;

async fn secured() -> TestNode {
    TestNode::start_guarded(|c| {
        c["AuthenticationEnabled"] = json!(true);
        c["RegisteredUsers"] = json!({"alice": "s3cret", "bob": "hunter2"});
    })
    .await
}

#[tokio::test]
async fn credentials_are_required_on_every_route() {
    let node = secured().await;
    for path in [
        "/system",
        "/patients",
        "/statistics",
        "/tools/now",
        "/does-not-exist",
    ] {
        let r = node.client.get(node.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without credentials");
        let challenge = r
            .headers()
            .get("www-authenticate")
            .expect("a challenge")
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Basic realm="), "{challenge}");
        for (user, password) in [("alice", "wrong"), ("mallory", "s3cret"), ("alice", "")] {
            let r = node
                .client
                .get(node.url(path))
                .basic_auth(user, Some(password))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{path} as {user}:{password}");
            assert!(r.headers().contains_key("www-authenticate"));
        }
    }
    let r = node
        .client
        .get(node.url("/system"))
        .basic_auth("alice", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = node
        .client
        .get(node.url("/patients"))
        .basic_auth("bob", Some("hunter2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Writes too.
    let bytes = Spec::simple("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5").to_bytes();
    let r = node
        .client
        .post(node.url("/instances"))
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = node
        .client
        .get(node.url("/statistics"))
        .basic_auth("bob", Some("hunter2"))
        .send()
        .await
        .unwrap();
    let stats: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        stats["CountInstances"], 0,
        "a refused upload stores nothing"
    );
}

#[tokio::test]
async fn the_uploading_user_is_recorded() {
    let node = secured().await;
    let bytes = Spec::simple("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5").to_bytes();
    let r = node
        .client
        .post(node.url("/instances"))
        .basic_auth("bob", Some("hunter2"))
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: serde_json::Value = r.json().await.unwrap();
    let id = answer["ID"].as_str().unwrap();
    let url = node.url(&format!("/instances/{id}/metadata/HttpUsername"));
    let r = node
        .client
        .get(&url)
        .basic_auth("alice", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "bob");
    let url = node.url(&format!("/instances/{id}/metadata/RemoteIP"));
    let r = node
        .client
        .get(&url)
        .basic_auth("alice", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "127.0.0.1");
}

#[tokio::test]
async fn without_authentication_the_user_is_empty() {
    let node = TestNode::start().await;
    let answer = node
        .upload(Spec::simple("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5").to_bytes())
        .await;
    let (status, user) = node
        .get_bytes(&format!(
            "/instances/{}/metadata/HttpUsername",
            answer["ID"].as_str().unwrap()
        ))
        .await;
    assert_eq!((status, user), (200, Vec::new()));
}
