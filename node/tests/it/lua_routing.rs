//! Lua scripts in the shapes of Orthanc's book: auto-routing every received
//! instance to a storescp and deleting it afterwards; a
//! `ReceivedInstanceFilter` refusing a modality over REST and over C-STORE;
//! `IncomingHttpRequestFilter`.

use crate::common;

use std::time::Duration;

use common::{free_port, script_file, wait_until, TestNode};
use isengard_test_support::synth::Spec;
use serde_json::json;

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_routing_sends_then_deletes() {
    let scripts = tempfile::tempdir().unwrap();
    let received = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scp = common::storescp(received.path(), "SAMPLE", port, &[]).await;
    let path = script_file(
        scripts.path(),
        "script.lua",
        r#"
function OnStoredInstance(instanceId, tags, metadata, origin)
  -- only what clients send, not what this script uploads itself
  if origin['RequestOrigin'] ~= 'Lua' then
    Delete(SendToModality(instanceId, 'sample'))
  end
end
"#,
    );
    let node = TestNode::start_with(|c| {
        c["LuaScripts"] = json!([path]);
        c["DicomModalities"] = json!({ "sample": ["SAMPLE", "127.0.0.1", port] });
    })
    .await;
    for i in 1..=3 {
        let spec = Spec::simple("ROUTED", "1.2.9", "1.2.9.1", &format!("1.2.9.1.{i}"));
        node.upload(spec.to_bytes()).await;
    }
    wait_until(
        Duration::from_secs(30),
        "storescp received 3 files and the node is empty",
        || async { files_in(received.path()) == 3 && node.get("/instances").await.1 == json!([]) },
    )
    .await;
    assert_eq!(node.get("/patients").await.1, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_instance_filter_refuses_over_rest_and_c_store() {
    let scripts = tempfile::tempdir().unwrap();
    let path = script_file(
        scripts.path(),
        "script.lua",
        r#"
function ReceivedInstanceFilter(dicom, origin, info)
  if dicom.Modality == 'CT' then
    return false
  end
  return info.HasPixelData ~= nil and origin.RequestOrigin ~= nil
end
"#,
    );
    let node = TestNode::start_with(|c| c["LuaScripts"] = json!([path])).await;
    let ct = Spec::simple("F1", "1.3.1", "1.3.1.1", "1.3.1.1.1");
    let mut mr = Spec::simple("F1", "1.3.1", "1.3.1.2", "1.3.1.2.1");
    mr.modality = "MR";
    // REST: refused with an error, nothing stored.
    let (status, error) = node.post("/instances", ct.to_bytes()).await;
    assert_eq!(status, 403, "{error}");
    assert!(
        error["Details"]
            .as_str()
            .unwrap()
            .contains("ReceivedInstanceFilter"),
        "{error}"
    );
    assert_eq!(node.get("/instances").await.1, json!([]));
    node.upload(mr.to_bytes()).await;
    assert_eq!(node.get("/instances").await.1.as_array().unwrap().len(), 1);
    // C-STORE: a failure status (0x0124 refused: not authorized), nothing stored.
    let files = tempfile::tempdir().unwrap();
    let ct_path = files.path().join("ct.dcm");
    std::fs::write(
        &ct_path,
        Spec::simple("F2", "1.3.2", "1.3.2.1", "1.3.2.1.1").to_bytes(),
    )
    .unwrap();
    let out = tokio::process::Command::new("/usr/bin/storescu")
        .args([
            "-v",
            "-aet",
            "MODALITY",
            "127.0.0.1",
            &node.dicom_port.to_string(),
            ct_path.to_str().unwrap(),
        ])
        .output()
        .await
        .expect("storescu runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Status: 0x124"), "storescu: {text}");
    assert_eq!(node.get("/instances").await.1.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn incoming_http_request_filter_answers_403() {
    let scripts = tempfile::tempdir().unwrap();
    let path = script_file(
        scripts.path(),
        "script.lua",
        r#"
function IncomingHttpRequestFilter(method, uri, ip, username, headers)
  if method == 'GET' then
    return headers['x-forbid'] == nil
  end
  return uri == '/tools/execute-script'
end
"#,
    );
    let node = TestNode::start_with(|c| {
        c["LuaScripts"] = json!([path]);
        c["ExecuteLuaEnabled"] = json!(true);
    })
    .await;
    assert_eq!(node.get("/system").await.0, 200);
    let r = node
        .client
        .get(node.url("/system"))
        .header("X-Forbid", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        node.post(
            "/instances",
            Spec::simple("H", "1.4", "1.4.1", "1.4.1.1").to_bytes()
        )
        .await
        .0,
        403
    );
    assert_eq!(node.get("/instances").await.1, json!([]));
    // Calls made by scripts do not go through the filter (as in Orthanc).
    let script = "print(RestApiGet('/system', false, { ['X-Forbid'] = '1' }) ~= nil)";
    let r = node
        .client
        .post(node.url("/tools/execute-script"))
        .body(script)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "true\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_find_request_filter_rewrites_the_query() {
    let scripts = tempfile::tempdir().unwrap();
    let path = script_file(
        scripts.path(),
        "script.lua",
        r#"
function IncomingFindRequestFilter(query, origin)
  -- a peer that sends a wrong PatientID: patch it, as Orthanc's sample does
  if origin.RemoteAet == 'FINDSCU' and origin.Manufacturer == 'Generic' and query['0008,0052'] == 'STUDY' then
    query['0010,0020'] = 'F9'
  end
  return query
end
"#,
    );
    let node = TestNode::start_with(|c| {
        c["LuaScripts"] = json!([path]);
        c["DicomAlwaysAllowFind"] = json!(true);
    })
    .await;
    node.upload(Spec::simple("F8", "1.5.1", "1.5.1.1", "1.5.1.1.1").to_bytes())
        .await;
    node.upload(Spec::simple("F9", "1.5.2", "1.5.2.1", "1.5.2.1.1").to_bytes())
        .await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new("/usr/bin/findscu")
        .args([
            "-S",
            "-aet",
            "FINDSCU",
            "-X",
            "-od",
            out_dir.path().to_str().unwrap(),
        ])
        .args([
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "PatientID=NOPE",
            "-k",
            "StudyInstanceUID",
        ])
        .args(["127.0.0.1", &node.dicom_port.to_string()])
        .output()
        .await
        .expect("findscu runs");
    assert!(
        out.status.success(),
        "findscu: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(answers.len(), 1, "one study of F9");
    let text = String::from_utf8_lossy(&std::fs::read(&answers[0]).unwrap()).into_owned();
    assert!(
        text.contains("1.5.2") && !text.contains("1.5.1"),
        "{text:?}"
    );
}
