//! `OnStableStudy` on a single node: called once per study, after `StableAge`,
//! with the study's tags and metadata; `OnStableSeries` and `OnStablePatient`
//! once per series and patient; `OnStoredInstance` with Orthanc's arguments. The callbacks write to a file the test reads.

use crate::common;

use std::time::Duration;

use common::{lines, wait_until, TestNode};
use isengard::dicom::orthanc_ids;
use isengard_test_support::synth::Spec;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_stable_study_fires_once_per_study() {
    let dir = tempfile::tempdir().unwrap();
    let (script, log) = common::recording_script(
        dir.path(),
        r#"
function OnStableStudy(studyId, tags, metadata)
  record('study ' .. studyId .. ' ' .. tags['StudyInstanceUID'] .. ' ' .. tostring(metadata['LastUpdate'] ~= nil))
end
function OnStableSeries(seriesId, tags, metadata)
  record('series ' .. seriesId .. ' ' .. tags['SeriesInstanceUID'])
end
function OnStablePatient(patientId, tags, metadata)
  record('patient ' .. patientId .. ' ' .. tags['PatientID'])
end
function OnStoredInstance(instanceId, tags, metadata, origin)
  record('stored ' .. instanceId .. ' ' .. tags['SOPInstanceUID'] .. ' ' .. metadata['Origin'] .. ' ' .. origin['RequestOrigin'])
end
"#,
    );
    let node = TestNode::start_with(|c| {
        c["StableAge"] = json!(1);
        c["LuaScripts"] = json!([script]);
    })
    .await;
    let first = orthanc_ids("S1", "5.1", "5.1.1", "5.1.1.1");
    node.upload(Spec::simple("S1", "5.1", "5.1.1", "5.1.1.1").to_bytes())
        .await;
    node.upload(Spec::simple("S1", "5.1", "5.1.2", "5.1.2.1").to_bytes())
        .await;
    let study_line = format!("study {} 5.1 true", first.study);
    wait_until(
        Duration::from_secs(30),
        "OnStableStudy for the first study",
        || async { lines(&log).contains(&study_line) },
    )
    .await;
    assert!(
        lines(&log).contains(&format!(
            "stored {} 5.1.1.1 RestApi RestApi",
            first.instance
        )),
        "{:?}",
        lines(&log)
    );
    // A second study: its event comes after the first's; the first is not repeated.
    let second = orthanc_ids("S2", "5.2", "5.2.1", "5.2.1.1");
    node.upload(Spec::simple("S2", "5.2", "5.2.1", "5.2.1.1").to_bytes())
        .await;
    let second_line = format!("study {} 5.2 true", second.study);
    wait_until(
        Duration::from_secs(30),
        "OnStableStudy for the second study",
        || async { lines(&log).contains(&second_line) },
    )
    .await;
    let studies: Vec<String> = lines(&log)
        .into_iter()
        .filter(|l| l.starts_with("study "))
        .collect();
    assert_eq!(studies, [study_line, second_line]);

    // Every series and patient once, whatever the order of their events.
    let second_series = orthanc_ids("S1", "5.1", "5.1.2", "5.1.2.1").series;
    let mut expected = vec![
        format!("patient {} S1", first.patient),
        format!("patient {} S2", second.patient),
        format!("series {} 5.1.1", first.series),
        format!("series {second_series} 5.1.2"),
        format!("series {} 5.2.1", second.series),
    ];
    expected.sort();
    let others = || {
        let mut l: Vec<String> = lines(&log)
            .into_iter()
            .filter(|l| l.starts_with("series ") || l.starts_with("patient "))
            .collect();
        l.sort();
        l
    };
    wait_until(
        Duration::from_secs(30),
        "every series and patient stable",
        || async { others().len() >= expected.len() },
    )
    .await;
    assert_eq!(others(), expected);
}
