//! The DICOM client (`isengard_dimse::scu`) and the send use case: an archive opened in-process talks to a
//! test node's SCP (echo, store, find, move) and to DCMTK's storescp.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{config_in, pydicom_test_files, TestNode};
use isengard::dicom::Tag;
use isengard::index::{Level, Modality};
use isengard::service::modalities::modality_from_json;
use isengard::service::send::SendOptions;
use isengard::service::Origin;
use isengard::Opened;
use isengard_dimse::scu::{self, ScuError, Target};
use serde_json::json;

const FILES: [&str; 4] = [
    "CT_small.dcm",
    "JPEG2000.dcm",
    "MR_small_RLE.dcm",
    "rtplan.dcm",
];

async fn archive_with_files(dir: &std::path::Path) -> (Opened, Vec<String>) {
    let opened = isengard::open_archive(Arc::new(config_in(dir)))
        .await
        .expect("archive");
    let archive = &opened.archive;
    let mut ids = Vec::new();
    for f in FILES {
        let bytes = std::fs::read(pydicom_test_files().join("test_files").join(f)).unwrap();
        let outcome = archive
            .ingest(
                bytes.into(),
                &Origin::rest("127.0.0.1".into(), String::new()),
            )
            .await
            .unwrap();
        ids.push(outcome.ids.instance);
    }
    (opened, ids)
}

fn modality(aet: &str, port: u16) -> Modality {
    modality_from_json("peer", &json!([aet, "127.0.0.1", port])).unwrap()
}

fn target(m: &Modality) -> Target {
    Target {
        local_aet: "NODEA".into(),
        remote_aet: m.aet.clone(),
        host: m.host.clone(),
        port: m.port,
        timeout: Duration::from_secs(10),
    }
}

/// How the tests send: as `NODEA`, 10 s per operation.
fn as_node_a() -> SendOptions {
    SendOptions {
        local_aet: Some("NODEA".into()),
        timeout: Some(10),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scu_echo_store_find_move() {
    let dir = tempfile::tempdir().unwrap();
    let (opened, ids) = archive_with_files(dir.path()).await;
    let archive = &opened.archive;
    let dest_dir = tempfile::tempdir().unwrap();
    let dest_port = common::free_port();
    let b = TestNode::start_with(|c| {
        c["DicomModalities"] = json!({
            "a": ["NODEA", "127.0.0.1", 1],
            "dest": ["STORESCP", "127.0.0.1", dest_port],
        });
    })
    .await;
    let peer = modality("ORTHANC", b.dicom_port);
    let t = target(&peer);

    scu::echo(&t).await.expect("C-ECHO");

    let report = archive
        .send_to_modality(&peer, &ids, &as_node_a())
        .await
        .expect("C-STORE");
    assert_eq!(report.sent, FILES.len(), "{report:?}");
    assert_eq!(report.failed, 0);
    // Same ids on the other side, received in their own transfer syntax.
    for id in &ids {
        let (status, meta) = b.get(&format!("/instances/{id}/metadata?expand")).await;
        assert_eq!(status, 200);
        assert_eq!(meta["RemoteAET"], "NODEA");
        let (_, here) = (
            0,
            archive.resource(id).unwrap().metadata["TransferSyntax"].clone(),
        );
        assert_eq!(meta["TransferSyntax"], here.as_str());
    }

    let answers = scu::find(
        &t,
        Level::Study,
        &[
            (Tag(0x0010, 0x0010), "*".into()),
            (Tag(0x0020, 0x000d), String::new()),
        ],
    )
    .await
    .expect("C-FIND");
    assert_eq!(answers.len(), 4);
    let mut names: Vec<String> = answers
        .iter()
        .map(|a| {
            let ds = a.to_dataset().expect("an answer data set");
            let el = ds.get(Tag(0x0010, 0x0010)).expect("PatientName answered");
            String::from_utf8_lossy(el.bytes().unwrap())
                .trim_end()
                .to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names[0], "CompressedSamples^CT1");
    let patients = scu::find(&t, Level::Patient, &[(Tag(0x0010, 0x0020), String::new())])
        .await
        .unwrap();
    assert_eq!(patients.len(), 4);

    // C-MOVE from the node to a storescp.
    let scp = common::storescp(dest_dir.path(), "STORESCP", dest_port, &["+xa"]).await;
    let report = scu::move_(
        &t,
        Level::Patient,
        &[(Tag(0x0010, 0x0010), "CompressedSamples^CT1".into())],
        "STORESCP",
    )
    .await
    .expect("C-MOVE");
    assert_eq!((report.status, report.completed, report.failed), (0, 1, 0));
    assert_eq!(std::fs::read_dir(dest_dir.path()).unwrap().count(), 1);
    let unknown = scu::move_(
        &t,
        Level::Patient,
        &[(Tag(0x0010, 0x0020), "*".into())],
        "NOWHERE",
    )
    .await;
    assert!(
        matches!(unknown, Err(ScuError::Failure { status: 0xA801, .. })),
        "{unknown:?}"
    );

    // The archive's own SCU straight to storescp: already there or new, all accepted.
    let direct = modality("STORESCP", dest_port);
    let report = archive
        .send_to_modality(&direct, &ids, &as_node_a())
        .await
        .unwrap();
    assert_eq!(report.sent, FILES.len(), "{report:?}");
    drop(scp);
    opened.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scu_errors() {
    // Nobody listens.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = modality("NOBODY", free);
    assert!(matches!(
        scu::echo(&target(&nobody)).await,
        Err(ScuError::Connect { .. })
    ));

    let b = TestNode::start_with(|c| c["DicomCheckCalledAet"] = json!(true)).await;
    // Wrong called AE title: rejected.
    let wrong = modality("WRONG", b.dicom_port);
    assert!(matches!(
        scu::echo(&target(&wrong)).await,
        Err(ScuError::Rejected(_))
    ));
    // C-FIND from an AE title the node does not know: the association is aborted (as Orthanc).
    let right = modality("ORTHANC", b.dicom_port);
    let refused = scu::find(&target(&right), Level::Study, &[]).await;
    assert!(matches!(refused, Err(ScuError::Aborted)), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_of_a_larger_study_counts_every_sub_operation() {
    let dest_dir = tempfile::tempdir().unwrap();
    let dest_port = common::free_port();
    let b = TestNode::start_with(|c| {
        c["DicomModalities"] =
            json!({"a": ["NODEA", "127.0.0.1", 1], "dest": ["STORESCP", "127.0.0.1", dest_port]});
    })
    .await;
    let shape = isengard_test_support::synth::Shape {
        patients: 1,
        studies_per_patient: 1,
        series_per_study: 2,
        instances_per_series: 30,
        rows: 8,
        columns: 8,
        seed: 3,
    };
    let specs = isengard_test_support::synth::dataset(shape);
    for spec in &specs {
        b.upload(spec.to_bytes()).await;
    }
    let scp = common::storescp(dest_dir.path(), "STORESCP", dest_port, &[]).await;
    let peer = modality("ORTHANC", b.dicom_port);
    let keys = [(Tag(0x0020, 0x000d), specs[0].study_uid.clone())];
    let report = scu::move_(&target(&peer), Level::Study, &keys, "STORESCP")
        .await
        .expect("C-MOVE");
    assert_eq!(
        (
            report.status,
            report.completed,
            report.failed,
            report.warning
        ),
        (0, 60, 0, 0)
    );
    assert_eq!(std::fs::read_dir(dest_dir.path()).unwrap().count(), 60);
    drop(scp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_modality_host() {
    // The modality NODEA is declared on another host: with DicomCheckModalityHost, a C-FIND
    // from 127.0.0.1 calling itself NODEA is refused (association aborted).
    let b = TestNode::start_with(|c| {
        c["DicomModalities"] = json!({"a": ["NODEA", "10.9.9.9", 104]});
        c["DicomCheckModalityHost"] = json!(true);
    })
    .await;
    let peer = modality("ORTHANC", b.dicom_port);
    let refused = scu::find(&target(&peer), Level::Study, &[]).await;
    assert!(matches!(refused, Err(ScuError::Aborted)), "{refused:?}");
    scu::echo(&target(&peer))
        .await
        .expect("echo is still allowed to anyone");
    drop(b);
    let b =
        TestNode::start_with(|c| c["DicomModalities"] = json!({"a": ["NODEA", "10.9.9.9", 104]}))
            .await;
    let peer = modality("ORTHANC", b.dicom_port);
    assert!(scu::find(&target(&peer), Level::Study, &[])
        .await
        .unwrap()
        .is_empty());
    // DicomAlwaysAllowFind: anyone may C-FIND.
    drop(b);
    let b = TestNode::start_with(|c| c["DicomAlwaysAllowFind"] = json!(true)).await;
    let peer = modality("ORTHANC", b.dicom_port);
    assert!(scu::find(&target(&peer), Level::Study, &[])
        .await
        .unwrap()
        .is_empty());
}
