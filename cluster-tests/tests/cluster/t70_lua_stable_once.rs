//! `OnStableStudy` runs once in a 3-node cluster, on the leader, driven by
//! the replicated stable events and a replicated cursor: every node loads the
//! same script, which appends `<node name> <study id>` to one shared file; the
//! leader is killed between two studies, and after the new leader takes over
//! (and the killed node comes back) each study has exactly one line.

use std::time::Duration;

use isengard::dicom::orthanc_ids;
use isengard_cluster_tests::{wait_until, ClusterOptions, TestCluster};
use isengard_test_support::synth::Spec;
use serde_json::json;

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn calls_for(path: &std::path::Path, study: &str) -> usize {
    lines(path).iter().filter(|l| l.ends_with(study)).count()
}

#[tokio::test]
async fn t70_on_stable_study_runs_once_across_a_leader_kill() {
    let shared = tempfile::tempdir().unwrap();
    let log = shared.path().join("calls.txt");
    let script = shared.path().join("stable.lua");
    std::fs::write(
        &script,
        format!(
            r#"
function OnStableStudy(studyId, tags, metadata)
  local f = assert(io.open('{}', 'a'))
  f:write(GetOrthancConfiguration()['Name'] .. ' ' .. studyId .. '\n')
  f:close()
end
"#,
            log.display()
        ),
    )
    .unwrap();
    let config = json!({ "StableAge": 1, "LuaScripts": [script] });
    let mut cluster = TestCluster::start_with(
        3,
        ClusterOptions {
            config,
            ..Default::default()
        },
    )
    .await;

    let studies: Vec<(Spec, String)> = (1..=4)
        .map(|i| {
            let (patient, study, series, sop) = (
                format!("L{i}"),
                format!("7.{i}"),
                format!("7.{i}.1"),
                format!("7.{i}.1.1"),
            );
            let id = orthanc_ids(&patient, &study, &series, &sop).study;
            (Spec::simple(&patient, &study, &series, &sop), id)
        })
        .collect();

    // Study 1, through a follower or the leader alike.
    cluster.post_ok(2, studies[0].0.to_bytes()).await;
    wait_until(
        Duration::from_secs(30),
        "OnStableStudy for study 1",
        || async { calls_for(&log, &studies[0].1) > 0 },
    )
    .await;

    // Study 2 arrives, then the leader dies before it becomes stable.
    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    let survivor = cluster.live().into_iter().find(|n| *n != leader).unwrap();
    cluster.post_ok(survivor, studies[1].0.to_bytes()).await;
    cluster.kill9(leader);
    wait_until(
        Duration::from_secs(40),
        "the new leader calls OnStableStudy for study 2",
        || async { calls_for(&log, &studies[1].1) > 0 },
    )
    .await;
    let new_leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    assert_ne!(new_leader, leader);
    cluster.post_ok(survivor, studies[2].0.to_bytes()).await;
    wait_until(
        Duration::from_secs(30),
        "OnStableStudy for study 3",
        || async { calls_for(&log, &studies[2].1) > 0 },
    )
    .await;

    // The killed node comes back as a follower and does not replay anything.
    cluster.start_node(leader);
    cluster.post_ok(leader, studies[3].0.to_bytes()).await;
    wait_until(
        Duration::from_secs(30),
        "OnStableStudy for study 4",
        || async { calls_for(&log, &studies[3].1) > 0 },
    )
    .await;

    let all = lines(&log);
    for (_, id) in &studies {
        assert_eq!(calls_for(&log, id), 1, "study {id} called once: {all:?}");
    }
    assert_eq!(all.len(), studies.len(), "{all:?}");
    // Study 2 and later were called by the new leader, not the killed one.
    let killed_name = format!("node-{leader} ");
    assert!(
        all[1..3].iter().all(|l| !l.starts_with(&killed_name)),
        "{all:?}"
    );
}
