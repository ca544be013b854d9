//! The DICOM SCP against bad peers: truncated PDUs, garbage, stalled
//! associations, unknown SOP classes, data sets that cannot be indexed, AE
//! title rules and the association limit. The server must answer or abort
//! properly, index nothing partial, and keep serving others meanwhile.

use crate::common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::{pydicom_test_files, TestNode};
use dicom_dictionary_std::tags;
use dicom_ul::association::client::AsyncClientAssociation;
use dicom_ul::ClientAssociationOptions;
use isengard_dimse::message::{field, read_message, write_message, CommandBuilder};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

async fn dcmtk(tool: &str, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(format!("/usr/bin/{tool}"));
    cmd.args(args).kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the tool finishes")
        .expect("the tool runs")
}

async fn echo(node: &TestNode, aet: &str, called: &str) -> bool {
    let port = node.dicom_port.to_string();
    let out = dcmtk(
        "echoscu",
        &["-v", "-aet", aet, "-aec", called, "127.0.0.1", &port],
    )
    .await;
    out.status.success()
        && String::from_utf8_lossy(&out.stderr).contains("Received Echo Response (Success)")
}

async fn store_ct(node: &TestNode) -> Output {
    let port = node.dicom_port.to_string();
    let file = pydicom_test_files().join("test_files/CT_small.dcm");
    dcmtk("storescu", &["127.0.0.1", &port, file.to_str().unwrap()]).await
}

async fn instance_count(node: &TestNode) -> usize {
    node.get("/instances")
        .await
        .1
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

/// Waits until the server closes `socket` (EOF, reset, or an abort PDU then EOF).
async fn closed_by_server(socket: &mut TcpStream, deadline: Duration) -> bool {
    let start = Instant::now();
    let mut buf = [0u8; 512];
    while start.elapsed() < deadline {
        match tokio::time::timeout(deadline, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
    false
}

async fn associate(
    node: &TestNode,
    abstract_syntax: &str,
) -> Result<AsyncClientAssociation<TcpStream>, dicom_ul::association::Error> {
    ClientAssociationOptions::new()
        .calling_ae_title("RAWSCU")
        .called_ae_title("ORTHANC")
        .with_presentation_context(abstract_syntax, vec![EXPLICIT_LE])
        .read_timeout(Duration::from_secs(10))
        .establish_async(format!("127.0.0.1:{}", node.dicom_port))
        .await
}

/// CT_small's data set (explicit little endian), without `remove`.
fn ct_dataset(remove: Option<dicom_core::Tag>) -> Vec<u8> {
    let mut obj =
        dicom_object::open_file(pydicom_test_files().join("test_files/CT_small.dcm")).unwrap();
    if let Some(tag) = remove {
        obj.remove_element(tag);
    }
    let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, &ts).unwrap();
    out
}

/// Sends one C-STORE-RQ and returns the response status and comment.
async fn raw_store(node: &TestNode, data: &[u8], sop_instance: &str) -> (u16, Option<String>) {
    let mut assoc = associate(node, CT_IMAGE_STORAGE)
        .await
        .expect("association");
    let ctx = assoc.presentation_contexts()[0].id;
    let rq = CommandBuilder::new(field::C_STORE_RQ)
        .u16(tags::MESSAGE_ID, 9)
        .uid(tags::AFFECTED_SOP_CLASS_UID, CT_IMAGE_STORAGE)
        .uid(tags::AFFECTED_SOP_INSTANCE_UID, sop_instance)
        .u16(tags::PRIORITY, 0)
        .with_data_set()
        .build();
    write_message(&mut assoc, ctx, &rq, Some(data))
        .await
        .unwrap();
    let rsp = read_message(&mut assoc).await.unwrap().expect("a response");
    assert_eq!(rsp.command_field(), Some(field::C_STORE_RSP));
    assert_eq!(rsp.message_id_responded_to(), 9);
    let _ = assoc.release().await;
    (rsp.status().unwrap(), rsp.string(tags::ERROR_COMMENT))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_peers_do_not_disturb_others() {
    let node = TestNode::start_with(|c| c["DicomScpTimeout"] = json!(2)).await;
    let addr = format!("127.0.0.1:{}", node.dicom_port);

    // A connection that never speaks, and one that stops in the middle of a PDU.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut truncated = TcpStream::connect(&addr).await.unwrap();
    truncated
        .write_all(&[0x01, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x01, 0x00, 0x00])
        .await
        .unwrap();
    // Garbage: not a PDU at all.
    let mut garbage = TcpStream::connect(&addr).await.unwrap();
    garbage.write_all(&[0xde; 300]).await.unwrap();
    // An established association that then stalls.
    let stalled = associate(&node, "1.2.840.10008.1.1")
        .await
        .expect("association");

    // Meanwhile, another peer stores.
    let out = store_ct(&node).await;
    assert!(
        out.status.success(),
        "storescu: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(instance_count(&node).await, 1);
    assert!(echo(&node, "OTHER", "ORTHANC").await);

    assert!(
        closed_by_server(&mut garbage, Duration::from_secs(10)).await,
        "garbage connection left open"
    );
    assert!(
        closed_by_server(&mut silent, Duration::from_secs(10)).await,
        "silent connection left open"
    );
    assert!(
        closed_by_server(&mut truncated, Duration::from_secs(10)).await,
        "truncated PDU left open"
    );
    let mut stalled = stalled;
    let started = Instant::now();
    let next = tokio::time::timeout(Duration::from_secs(10), read_message(&mut stalled)).await;
    assert!(
        next.is_ok(),
        "stalled association not ended by DicomScpTimeout"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(
        echo(&node, "OTHER", "ORTHANC").await,
        "the server still serves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sets_that_cannot_be_indexed_are_refused() {
    let node = TestNode::start().await;
    // No SOPInstanceUID: A900, nothing indexed.
    let data = ct_dataset(Some(tags::SOP_INSTANCE_UID));
    let (status, comment) = raw_store(&node, &data, "1.2.3.4").await;
    assert_eq!(status, 0xA900, "{comment:?}");
    assert!(comment.is_some());
    // Garbage as the data set: C000.
    let (status, _) = raw_store(
        &node,
        &[0x08, 0x00, 0x16, 0x00, b'U', b'I', 0xff, 0x7f, 1, 2],
        "1.2.3.5",
    )
    .await;
    assert_eq!(status, 0xC000);
    assert_eq!(instance_count(&node).await, 0);
    // The whole data set is fine; twice is fine too (AlreadyStored is a success).
    let data = ct_dataset(None);
    assert_eq!(
        raw_store(
            &node,
            &data,
            "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
        )
        .await
        .0,
        0
    );
    assert_eq!(
        raw_store(
            &node,
            &data,
            "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
        )
        .await
        .0,
        0
    );
    assert_eq!(instance_count(&node).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_sop_classes_follow_unknown_sop_class_accepted() {
    let node = TestNode::start().await;
    let refused = associate(&node, "1.2.3.4.5.6.7").await;
    assert!(refused.is_err(), "an unknown SOP class was accepted");
    drop(node);
    let node = TestNode::start_with(|c| c["UnknownSopClassAccepted"] = json!(true)).await;
    assert!(associate(&node, "1.2.3.4.5.6.7").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ae_title_rules() {
    // Defaults: echo and store from anyone, any called AE title.
    let node = TestNode::start().await;
    assert!(echo(&node, "WHOEVER", "ANY-SCP").await);
    drop(node);

    let node = TestNode::start_with(|c| {
        c["DicomCheckCalledAet"] = json!(true);
        c["DicomAlwaysAllowEcho"] = json!(false);
        c["DicomAlwaysAllowStore"] = json!(false);
        c["DicomModalities"] = json!({
            "known": ["KNOWN", "127.0.0.1", 104],
            "noecho": {"AET": "NOECHO", "Host": "127.0.0.1", "Port": 104, "AllowEcho": false},
        });
    })
    .await;
    assert!(
        !echo(&node, "KNOWN", "ANY-SCP").await,
        "wrong called AE title accepted"
    );
    assert!(echo(&node, "KNOWN", "ORTHANC").await);
    assert!(
        !echo(&node, "STRANGER", "ORTHANC").await,
        "unknown calling AE title accepted"
    );
    assert!(
        !echo(&node, "NOECHO", "ORTHANC").await,
        "AllowEcho false ignored"
    );
    // C-STORE from an unknown AE title is refused too.
    let out = store_ct(&node).await;
    assert!(!out.status.success());
    assert_eq!(instance_count(&node).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn associations_beyond_the_limit_are_rejected() {
    let node = TestNode::start_with(|c| c["Isengard"]["DicomMaxAssociations"] = json!(1)).await;
    let held = associate(&node, "1.2.840.10008.1.1")
        .await
        .expect("first association");
    assert!(
        !echo(&node, "SECOND", "ORTHANC").await,
        "second association accepted beyond the limit"
    );
    held.release().await.unwrap();
    common::wait_until(Duration::from_secs(10), "the slot is free again", || {
        echo(&node, "THIRD", "ORTHANC")
    })
    .await;
}
