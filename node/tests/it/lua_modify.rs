//! Lua's `ModifyInstance` and `OutgoingFindRequestFilter`, in the shapes of
//! Orthanc's book:
//! - "modify, route, delete": `OnStoredInstance` modifies what clients send,
//!   C-STOREs the copy to a storescp, deletes the copy and the original;
//! - `ModifyInstance` from `/tools/execute-script`: the new instance's ID,
//!   origin `Lua`, `ModifiedFrom`; a refused modification is a Lua error;
//! - a script rewriting the C-FIND that `/modalities/{m}/query` sends, seen
//!   by a pynetdicom C-FIND SCP that records the identifiers it receives.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{free_port, script_file, wait_until, Killed, TestNode};
use isengard_test_support::synth::Spec;
use serde_json::{json, Value};

fn received_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modify_then_route_then_delete() {
    let scripts = tempfile::tempdir().unwrap();
    let received = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scp = common::storescp(received.path(), "SAMPLE", port, &[]).await;
    let path = script_file(
        scripts.path(),
        "script.lua",
        r#"
function OnStoredInstance(instanceId, tags, metadata, origin)
  -- Do not modify twice the same file
  if origin['RequestOrigin'] ~= 'Lua' then
    local replace = {}
    replace['StationName'] = 'My Medical Device'
    replace['InstitutionName'] = 'Routed'
    local remove = { 'ReferringPhysicianName' }
    -- Modify the instance, send it, then delete the modified instance
    Delete(SendToModality(ModifyInstance(instanceId, replace, remove, true), 'sample'))
    -- Delete the original instance
    Delete(instanceId)
  end
end
"#,
    );
    let node = TestNode::start_with(|c| {
        c["LuaScripts"] = json!([path]);
        c["DicomModalities"] = json!({ "sample": ["SAMPLE", "127.0.0.1", port] });
    })
    .await;
    let originals: Vec<String> = (1..=3).map(|i| format!("1.2.77.1.{i}")).collect();
    for sop in &originals {
        node.upload(Spec::simple("MODROUTE", "1.2.77", "1.2.77.1", sop).to_bytes())
            .await;
    }
    wait_until(
        Duration::from_secs(30),
        "storescp received 3 files and the archive is empty",
        || async {
            received_files(received.path()).len() == 3
                && node.get("/instances").await.1 == json!([])
        },
    )
    .await;
    assert_eq!(node.get("/patients").await.1, json!([]));
    for file in received_files(received.path()) {
        let parsed = isengard::dicom::parse(&std::fs::read(&file).unwrap()).unwrap();
        let dataset = isengard::dicom::json::simplified(&parsed.object);
        assert_eq!(
            dataset["StationName"],
            "My Medical Device",
            "{}",
            file.display()
        );
        assert_eq!(dataset["InstitutionName"], "Routed");
        assert!(dataset.get("ReferringPhysicianName").is_none(), "removed");
        assert_eq!(dataset["PatientID"], "MODROUTE");
        assert_eq!(
            dataset["SeriesInstanceUID"], "1.2.77.1",
            "an instance modification keeps its series"
        );
        let sop = dataset["SOPInstanceUID"].as_str().unwrap();
        assert!(
            !originals.iter().any(|o| o == sop),
            "a new SOPInstanceUID: {sop}"
        );
    }
}

#[tokio::test]
async fn modify_instance_returns_the_stored_copy() {
    let node = TestNode::start_with(|c| c["ExecuteLuaEnabled"] = json!(true)).await;
    let original = node
        .upload(Spec::simple("LUAMOD", "1.2.78", "1.2.78.1", "1.2.78.1.1").to_bytes())
        .await;
    let original = original["ID"].as_str().unwrap().to_owned();
    let (status, printed) = node.execute_script(&format!("print(ModifyInstance('{original}', {{ PatientName = 'LUA^MODIFIED', SeriesNumber = 7 }}, {{}}, false))"),
    )
    .await;
    assert_eq!(status, 200, "{printed}");
    let copy = printed.trim().to_owned();
    assert_ne!(copy, original);
    let tags = node
        .get(&format!("/instances/{copy}/simplified-tags"))
        .await
        .1;
    assert_eq!(
        (tags["PatientName"].as_str(), tags["SeriesNumber"].as_str()),
        (Some("LUA^MODIFIED"), Some("7"))
    );
    let metadata = node
        .get(&format!("/instances/{copy}/metadata?expand"))
        .await
        .1;
    assert_eq!(metadata["Origin"], "Lua");
    assert_eq!(metadata["ModifiedFrom"], original.as_str());
    let instance = node.get(&format!("/instances/{copy}")).await.1;
    let source = node.get(&format!("/instances/{original}")).await.1;
    assert_eq!(instance["ParentSeries"], source["ParentSeries"]);

    // Orthanc's rules: identifiers need Force, which Lua cannot give.
    let (status, error) = node
        .execute_script(&format!(
            "ModifyInstance('{original}', {{ PatientID = 'X' }}, {{}}, false)"
        ))
        .await;
    assert_eq!(status, 500, "{error}");
    assert!(
        error.contains("requires the \\\"Force\\\" option"),
        "{error}"
    );
    let (status, error) = node
        .execute_script("Delete(SendToModality(ModifyInstance(nil, {}, {}, false), 'nowhere'))")
        .await;
    assert_eq!(status, 500);
    assert!(
        error.contains("Cannot modify a nonexistent instance"),
        "{error}"
    );
    let (status, error) = node
        .execute_script(&format!(
            "ModifyInstance('{original}', {{ NoSuchTag = 'x' }})"
        ))
        .await;
    assert_eq!(status, 500);
    assert!(error.contains("NoSuchTag"), "{error}");
    assert_eq!(
        node.get("/instances").await.1.as_array().unwrap().len(),
        2,
        "nothing stored by the refused calls"
    );
}

/// A pynetdicom C-FIND SCP (AE `FINDSCP`) that writes each identifier it
/// receives, as DICOM JSON, to `out/<n>.json` and answers one match.
fn find_scp(out: &Path, port: u16) -> Killed {
    const SCP: &str = r#"
import json, os, sys, time
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelFind

out, port = sys.argv[1], int(sys.argv[2])
count = [0]

def on_find(event):
    count[0] += 1
    path = os.path.join(out, "%d.json" % count[0])
    with open(path + ".tmp", "w") as f:
        json.dump(event.identifier.to_json_dict(), f)
    os.rename(path + ".tmp", path)
    match = Dataset()
    match.QueryRetrieveLevel = event.identifier.QueryRetrieveLevel
    match.PatientName = "MATCH^ONE"
    match.StudyInstanceUID = "1.2.79"
    yield 0xFF00, match

ae = AE(ae_title="FINDSCP")
ae.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, on_find)])
while True:
    time.sleep(1)
"#;
    let child = std::process::Command::new("python3")
        .args(["-c", SCP])
        .arg(out)
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("python3 with pynetdicom (scripts/install-deps.sh)");
    Killed(child)
}

/// The first value of a DICOM JSON element (a PN's `Alphabetic`).
/// The `n`th identifier the SCP of [`find_scp`] recorded, once it is there.
async fn recorded_identifier(dir: &Path, n: usize) -> Value {
    let received = dir.join(format!("{n}.json"));
    wait_until(
        Duration::from_secs(10),
        "the SCP recorded the identifier",
        || {
            let received = received.clone();
            async move { received.exists() }
        },
    )
    .await;
    serde_json::from_slice(&std::fs::read(&received).unwrap()).unwrap()
}

fn value<'a>(identifier: &'a Value, tag: &str) -> Option<&'a str> {
    let first = identifier.get(tag)?.get("Value")?.get(0)?;
    first.as_str().or_else(|| first.get("Alphabetic")?.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_find_request_filter_rewrites_what_the_remote_receives() {
    let scripts = tempfile::tempdir().unwrap();
    let seen = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scp = find_scp(seen.path(), port);
    wait_until(
        Duration::from_secs(20),
        "the C-FIND SCP listens",
        || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        },
    )
    .await;
    let path = script_file(
        scripts.path(),
        "script.lua",
        r#"
function OutgoingFindRequestFilter(query, modality)
  if modality == 'FINDSCP' then
    query['0010,0010'] = 'DOE^REWRITTEN'
    query['0008,0080'] = 'ADDED BY LUA'
    query['0008,0050'] = nil
  end
  return query
end
"#,
    );
    let node = TestNode::start_with(|c| {
        c["LuaScripts"] = json!([path]);
        c["DicomModalities"] = json!({ "remote": ["FINDSCP", "127.0.0.1", port], "other": ["OTHER", "127.0.0.1", port] });
    })
    .await;
    let request =
        json!({"Level": "Study", "Query": {"PatientName": "ORIGINAL*", "AccessionNumber": "A1"}});
    let (status, answer) = node
        .post("/modalities/remote/query", request.to_string())
        .await;
    assert_eq!(status, 200, "{answer}");
    let query = answer["ID"].as_str().unwrap();
    assert_eq!(
        node.get(&format!("/queries/{query}/answers")).await.1,
        json!(["0"])
    );
    let identifier = recorded_identifier(seen.path(), 1).await;
    assert_eq!(
        value(&identifier, "00100010"),
        Some("DOE^REWRITTEN"),
        "{identifier}"
    );
    assert_eq!(
        value(&identifier, "00080080"),
        Some("ADDED BY LUA"),
        "{identifier}"
    );
    assert!(
        identifier.get("00080050").is_none(),
        "AccessionNumber removed by the script: {identifier}"
    );
    assert_eq!(value(&identifier, "00080052"), Some("STUDY"));

    // The script leaves other modalities' queries alone.
    let (status, _) = node
        .post("/modalities/other/query", request.to_string())
        .await;
    assert_eq!(status, 200);
    let identifier = recorded_identifier(seen.path(), 2).await;
    assert_eq!(
        value(&identifier, "00100010"),
        Some("ORIGINAL*"),
        "{identifier}"
    );
    assert_eq!(value(&identifier, "00080050"), Some("A1"), "{identifier}");
}
