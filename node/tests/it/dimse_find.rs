//! C-FIND details on a synthetic archive: limits, computed keys, case rules,
//! and C-CANCEL (sent in the same TCP write as the request, so that the
//! server sees it before its first answer).

use crate::common;

use std::time::Duration;

use common::TestNode;
use dicom_dictionary_std::tags;
use dicom_ul::pdu::{PDataValue, PDataValueType};
use dicom_ul::{ClientAssociationOptions, Pdu};
use isengard::dicom::Tag;
use isengard::index::Level;
use isengard_dimse::dataset::{element_text, encode_identifier};
use isengard_dimse::message::{encode_command, field, read_message, CommandBuilder, NO_DATA_SET};
use isengard_dimse::scu;
use isengard_test_support::synth::{dataset, Shape};
use serde_json::json;
use tokio::io::AsyncWriteExt;

const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";

async fn node_with_archive(adjust: impl FnOnce(&mut serde_json::Value)) -> TestNode {
    let node = TestNode::start_with(|c| {
        c["DicomModalities"] = json!({"raw": ["RAWSCU", "127.0.0.1", 1]});
        adjust(c);
    })
    .await;
    let shape = Shape {
        patients: 2,
        studies_per_patient: 2,
        series_per_study: 2,
        instances_per_series: 10,
        rows: 2,
        columns: 2,
        seed: 7,
    };
    for spec in dataset(shape) {
        node.upload(spec.to_bytes()).await;
    }
    node
}

/// Runs one C-FIND, optionally cancelled at once; returns the answers'
/// identifiers and the final status.
async fn find(
    node: &TestNode,
    level: Level,
    keys: &[(Tag, &str)],
    cancel: bool,
) -> (Vec<dicom_object::InMemDicomObject>, u16) {
    let mut assoc = ClientAssociationOptions::new()
        .calling_ae_title("RAWSCU")
        .with_presentation_context(STUDY_ROOT_FIND, vec!["1.2.840.10008.1.2.1"])
        .read_timeout(Duration::from_secs(10))
        .establish_async(format!("127.0.0.1:{}", node.dicom_port))
        .await
        .expect("association");
    let pc = assoc.presentation_contexts()[0].clone();
    let keys: Vec<(Tag, String)> = keys.iter().map(|(t, v)| (*t, v.to_string())).collect();
    let identifier =
        encode_identifier(&scu::identifier(level, &keys), &pc.transfer_syntax).unwrap();
    let rq = CommandBuilder::new(field::C_FIND_RQ)
        .u16(tags::MESSAGE_ID, 1)
        .uid(tags::AFFECTED_SOP_CLASS_UID, STUDY_ROOT_FIND)
        .u16(tags::PRIORITY, 0)
        .with_data_set()
        .build();
    let pdv = |value_type, data| Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc.id,
            value_type,
            is_last: true,
            data,
        }],
    };
    let mut bytes = Vec::new();
    dicom_ul::write_pdu(
        &mut bytes,
        &pdv(PDataValueType::Command, encode_command(&rq)),
    )
    .unwrap();
    dicom_ul::write_pdu(&mut bytes, &pdv(PDataValueType::Data, identifier)).unwrap();
    if cancel {
        let cancel = CommandBuilder::new(field::C_CANCEL_RQ)
            .u16(tags::MESSAGE_ID_BEING_RESPONDED_TO, 1)
            .u16(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET)
            .build();
        dicom_ul::write_pdu(
            &mut bytes,
            &pdv(PDataValueType::Command, encode_command(&cancel)),
        )
        .unwrap();
    }
    assoc.inner_stream().write_all(&bytes).await.unwrap();
    let mut answers = Vec::new();
    loop {
        let rsp = read_message(&mut assoc).await.unwrap().expect("a response");
        assert_eq!(rsp.command_field(), Some(field::C_FIND_RSP));
        match rsp.status() {
            Some(0xff00) => {
                let data = rsp.data.expect("an identifier");
                answers.push(
                    isengard_dimse::dataset::decode_identifier(&data, &pc.transfer_syntax).unwrap(),
                );
            }
            Some(status) => {
                let _ = assoc.release().await;
                return (answers, status);
            }
            None => panic!("a response without status"),
        }
    }
}

fn text(obj: &dicom_object::InMemDicomObject, tag: Tag) -> String {
    element_text(obj, dicom_core::Tag(tag.0, tag.1))
        .unwrap_or_else(|| panic!("{tag:?} not answered"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_limits_computed_keys_case_and_cancel() {
    let node = node_with_archive(|c| c["LimitFindResults"] = json!(3)).await;

    // 8 series, limited to 3; 80 instances, not limited.
    let (series, status) = find(
        &node,
        Level::Series,
        &[(Tag(0x0020, 0x000e), ""), (Tag(0x0020, 0x1209), "")],
        false,
    )
    .await;
    assert_eq!((series.len(), status), (3, 0));
    for s in &series {
        assert_eq!(text(s, Tag(0x0020, 0x1209)), "10");
        assert_eq!(text(s, Tag(0x0008, 0x0052)), "SERIES");
        // Answers are in the default encoding (Latin1 unless set), as Orthanc.
        assert_eq!(text(s, Tag(0x0008, 0x0005)), "ISO_IR 100");
    }
    let (instances, status) =
        find(&node, Level::Instance, &[(Tag(0x0008, 0x0018), "")], false).await;
    assert_eq!((instances.len(), status), (80, 0));

    // PN matching ignores case; other values do not.
    let (patients, _) = find(
        &node,
        Level::Patient,
        &[(Tag(0x0010, 0x0010), ""), (Tag(0x0020, 0x1200), "")],
        false,
    )
    .await;
    assert_eq!(patients.len(), 2);
    assert_eq!(text(&patients[0], Tag(0x0020, 0x1200)), "2");
    let name = text(&patients[0], Tag(0x0010, 0x0010));
    let lower = format!("{}*", &name.to_lowercase()[..3]);
    let (found, _) = find(
        &node,
        Level::Patient,
        &[(Tag(0x0010, 0x0010), &lower)],
        false,
    )
    .await;
    assert!(!found.is_empty(), "case-insensitive PN match of {lower}");
    let (found, _) = find(
        &node,
        Level::Patient,
        &[(Tag(0x0010, 0x0020), "pat000001")],
        false,
    )
    .await;
    assert!(found.is_empty(), "LO values are case-sensitive");
    let (found, _) = find(
        &node,
        Level::Patient,
        &[(Tag(0x0010, 0x0020), "PAT000001")],
        false,
    )
    .await;
    assert_eq!(found.len(), 1);

    // Keys that are no main tag are read from a file (as Orthanc's StorageAccessOnFind: Always):
    // answered when present, empty when absent, and they filter.
    let (found, _) = find(
        &node,
        Level::Study,
        &[
            (Tag(0x0008, 0x1030), ""),
            (Tag(0x0018, 0x0050), ""),
            (Tag(0x0028, 0x0010), ""),
        ],
        false,
    )
    .await;
    assert_eq!(text(&found[0], Tag(0x0018, 0x0050)), "");
    assert_eq!(text(&found[0], Tag(0x0028, 0x0010)), "2");
    assert!(!text(&found[0], Tag(0x0008, 0x1030)).is_empty());
    let (found, _) = find(&node, Level::Series, &[(Tag(0x0028, 0x0010), "3")], false).await;
    assert!(found.is_empty(), "Rows=3 matched images of 2 rows");

    // C-CANCEL before the first answer: FE00 and no (or few) answers.
    let (instances, status) =
        find(&node, Level::Instance, &[(Tag(0x0008, 0x0018), "")], true).await;
    assert_eq!(status, 0xfe00);
    assert!(
        instances.len() < 80,
        "{} answers after a cancel",
        instances.len()
    );
}
