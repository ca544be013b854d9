//! Lua reaching out: `HttpGet/HttpPost/HttpPut/HttpDelete` with
//! `SetHttpCredentials` and `SendToPeer` against a second node that requires
//! authentication; `OnHeartBeat` every `LuaHeartBeatPeriod`; `Finalize()` when
//! the node stops.

use crate::common;

use std::time::Duration;

use common::{lines, wait_until, TestNode};
use isengard::dicom::orthanc_ids;
use isengard_test_support::synth::Spec;
use serde_json::json;

const USER: &str = "alice";
const PASSWORD: &str = "s3cret";

/// A node that answers only `USER`.
async fn guarded() -> TestNode {
    TestNode::start_guarded(|c| {
        c["AuthenticationEnabled"] = json!(true);
        c["RegisteredUsers"] = json!({ USER: PASSWORD });
    })
    .await
}

/// GET on the guarded node, with the credentials.
async fn get_as_user(node: &TestNode, path: &str) -> (u16, String) {
    let r = node
        .client
        .get(node.url(path))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .expect("GET");
    (r.status().as_u16(), r.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_functions_and_send_to_peer_reach_a_guarded_node() {
    let remote = guarded().await;
    // The peer's URL with a trailing slash, as Orthanc's examples write it.
    let peer_url = format!("{}/", remote.url(""));
    let node = TestNode::start_with(|c| {
        c["ExecuteLuaEnabled"] = json!(true);
        c["OrthancPeers"] = json!({
            "remote": { "Url": peer_url, "Username": USER, "Password": PASSWORD },
            "anonymous": [peer_url],
        });
    })
    .await;
    let ids = orthanc_ids("P1", "7.1", "7.1.1", "7.1.1.1");
    node.upload(Spec::simple("P1", "7.1", "7.1.1", "7.1.1.1").to_bytes())
        .await;
    let instance = &ids.instance;
    assert_eq!(
        get_as_user(&remote, &format!("/instances/{instance}"))
            .await
            .0,
        404
    );

    // A peer without credentials is refused by the remote: a Lua error.
    let (status, body) = node
        .execute_script(&format!("SendToPeer('{}', 'anonymous')", ids.study))
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("HTTP 401"), "{body}");
    let (status, body) = node
        .execute_script(&format!("SendToPeer('{instance}', 'nowhere')"))
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("No peer with symbolic name: nowhere"),
        "{body}"
    );

    // The whole study goes to the peer; SendToPeer gives back the id it sent.
    let (status, body) = node
        .execute_script(&format!("print(SendToPeer('{}', 'remote'))", ids.study))
        .await;
    assert_eq!(
        (status, body.as_str()),
        (200, format!("{}\n", ids.study).as_str())
    );
    assert_eq!(
        get_as_user(&remote, &format!("/instances/{instance}"))
            .await
            .0,
        200
    );

    // HTTP without credentials: nil (Orthanc logs the error and gives nil).
    let base = remote.url("");
    let (status, body) = node
        .execute_script(&format!("print(HttpGet('{base}/system') == nil)"))
        .await;
    assert_eq!((status, body.as_str()), (200, "true\n"));
    // With credentials, each verb.
    let script = format!(
        r#"
SetHttpCredentials('{USER}', '{PASSWORD}')
SetHttpTimeout(10)
local system = ParseJson(HttpGet('{base}/system'))
print(system['DicomAet'])
HttpPut('{base}/instances/{instance}/metadata/1025', 'routed by Lua')
local found = ParseJson(HttpPost('{base}/tools/lookup', '7.1.1.1'))
print(found[1]['Type'], found[1]['ID'])
print(HttpDelete('{base}/instances/{instance}'))
"#
    );
    let (status, body) = node.execute_script(&script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, format!("ORTHANC\nInstance, {instance}\nSUCCESS\n"));
    assert_eq!(
        get_as_user(&remote, &format!("/instances/{instance}"))
            .await
            .0,
        404
    );
    // The metadata was written before the deletion: check it on a second copy.
    let (status, _) = node
        .execute_script(&format!("SendToPeer('{instance}', 'remote')"))
        .await;
    assert_eq!(status, 200);
    let (status, _) = node
        .execute_script(&format!(
            "HttpPut('{base}/instances/{instance}/metadata/1025', 'again')"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        get_as_user(&remote, &format!("/instances/{instance}/metadata/1025")).await,
        (200, "again".to_owned())
    );
    // The local copy is untouched by all of this.
    assert_eq!(node.get(&format!("/instances/{instance}")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_runs_periodically_and_finalize_at_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (script, log) = common::recording_script(
        dir.path(),
        r#"
beats = 0
function Initialize() record('initialize') end
function OnHeartBeat() beats = beats + 1 record('beat ' .. beats) end
function Finalize() record('finalize after ' .. beats) end
"#,
    );
    let node = TestNode::start_with(|c| {
        c["LuaScripts"] = json!([script]);
        c["LuaHeartBeatPeriod"] = json!(1);
    })
    .await;
    wait_until(Duration::from_secs(30), "three heartbeats", || async {
        lines(&log).contains(&"beat 3".to_owned())
    })
    .await;
    node.stop().await;
    let calls = lines(&log);
    assert_eq!(
        calls.first().map(String::as_str),
        Some("initialize"),
        "{calls:?}"
    );
    let last = calls.last().unwrap();
    let beats = calls.iter().filter(|l| l.starts_with("beat ")).count();
    assert_eq!(last, &format!("finalize after {beats}"), "{calls:?}");
    // Beats are numbered in order, none twice.
    let expected: Vec<String> = (1..=beats).map(|n| format!("beat {n}")).collect();
    assert_eq!(calls[1..calls.len() - 1], expected[..]);
}
