//! DICOM network fidelity against dcmtk's `findscu` (by full path: the
//! pynetdicom scripts shadow it on PATH): the default encoding of files and
//! of C-FIND answers, wildcards refused on UIDs, and the SCU routes
//! `store-straight` and `query-studies` of an answer, against the node itself.

use crate::common;

use common::TestNode;
use isengard_test_support::synth::Spec;
use serde_json::json;

const FINDSCU: &str = "/usr/bin/findscu";

/// Runs findscu (study root, verbose) against the node; stdout and stderr
/// as bytes, joined.
async fn findscu(node: &TestNode, keys: &[&str]) -> Vec<u8> {
    let mut args = vec!["-v".to_owned(), "-S".to_owned()];
    for k in keys {
        args.push("-k".into());
        args.push((*k).into());
    }
    args.extend(["-aet".into(), "FINDSCU".into(), "127.0.0.1".into()]);
    args.push(node.dicom_port.to_string());
    let out = tokio::process::Command::new(FINDSCU)
        .args(&args)
        .output()
        .await
        .expect("findscu");
    let mut all = out.stdout;
    all.extend(out.stderr);
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn put_encoding(node: &TestNode, name: &str) {
    let r = reqwest::Client::new()
        .put(node.url("/tools/default-encoding"))
        .body(name.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn the_default_encoding_decodes_files_and_encodes_c_find_answers() {
    let node = TestNode::start_with(|c| c["DicomAlwaysAllowFind"] = json!(true)).await;
    // The synthetic file, its SpecificCharacterSet (ISO_IR 192) taken out:
    // its name stays UTF-8.
    let mut spec = Spec::simple("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5");
    spec.patient_name = "Jérôme^Ünal".into();
    let mut bytes = spec.to_bytes();
    let charset: &[u8] = b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 192";
    let at = bytes
        .windows(charset.len())
        .position(|w| w == charset)
        .unwrap();
    bytes.drain(at..at + charset.len());
    put_encoding(&node, "Utf8").await;
    let id = node.upload(bytes).await["ID"].as_str().unwrap().to_owned();
    let (_, tags) = node.get(&format!("/instances/{id}/simplified-tags")).await;
    assert_eq!(tags["PatientName"], "Jérôme^Ünal");
    let (_, patient) = node.get(&format!("/instances/{id}/patient")).await;
    assert_eq!(patient["MainDicomTags"]["PatientName"], "Jérôme^Ünal");

    // Shown in Latin1, the same bytes read otherwise.
    put_encoding(&node, "Latin1").await;
    let (_, tags) = node.get(&format!("/instances/{id}/simplified-tags")).await;
    assert_eq!(tags["PatientName"], "JÃ©rÃ´me^Ã\u{9c}nal");

    // C-FIND answers in the default encoding, with its character set.
    let out = findscu(&node, &["0008,0052=STUDY", "PatientName"]).await;
    assert!(
        contains(&out, b"[ISO_IR 100]"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(
        contains(&out, b"J\xe9r\xf4me^\xdcnal"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    put_encoding(&node, "Cyrillic").await;
    let out = findscu(&node, &["0008,0052=STUDY", "PatientName"]).await;
    assert!(contains(&out, b"[ISO_IR 144]"));
    assert!(
        contains(&out, b"[Jrme^nal]"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // Windows1251 has no DICOM term: no SpecificCharacterSet.
    put_encoding(&node, "Windows1251").await;
    let out = findscu(&node, &["0008,0052=STUDY", "PatientName"]).await;
    assert!(
        !contains(&out, b"(0008,0005)"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    node.stop().await;
}

#[tokio::test]
async fn c_find_refuses_wildcards_on_uids_and_a_lone_star_needs_the_tag() {
    let node = TestNode::start_with(|c| c["DicomAlwaysAllowFind"] = json!(true)).await;
    node.upload(Spec::simple("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5").to_bytes())
        .await;
    let out = findscu(&node, &["0008,0052=SERIES", "StudyInstanceUID=*"]).await;
    assert!(
        contains(&out, b"Failed: UnableToProcess"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let out = findscu(&node, &["0008,0052=STUDY", "StudyDate=2024*"]).await;
    assert!(contains(&out, b"Failed: UnableToProcess"));
    // A text VR takes wildcards; `*` matches a tag that is set, not one absent.
    let out = findscu(&node, &["0008,0052=STUDY", "PatientName=*"]).await;
    assert!(
        contains(&out, b"[Doe^John]"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let out = findscu(&node, &["0008,0052=STUDY", "PatientSex=*"]).await;
    assert!(contains(&out, b"[M ]") || contains(&out, b"[M]"));
    let out = findscu(&node, &["0008,0052=STUDY", "PatientComments=*"]).await;
    assert!(
        !contains(&out, b"(Pending)"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(contains(&out, b"(Success)"));
    let (status, _) = node
        .post(
            "/tools/find",
            json!({"Level": "Study", "Query": {"PatientSex": "*"}}).to_string(),
        )
        .await;
    assert_eq!(status, 200);
    node.stop().await;
}

#[tokio::test]
async fn store_straight_and_queries_of_an_answer_s_children() {
    let node = TestNode::start_with(|c| c["DicomAlwaysAllowFind"] = json!(true)).await;
    let port = node.dicom_port;
    let (status, _) = node
        .post(
            "/modalities/self/store-straight",
            Spec::simple("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5").to_bytes(),
        )
        .await;
    assert_eq!(status, 404, "no such modality yet");
    let r = reqwest::Client::new()
        .put(node.url("/modalities/self"))
        .body(json!(["ORTHANC", "127.0.0.1", port]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, body) = node.post("/modalities/self/store-straight", "nope").await;
    assert_eq!((status, body["OrthancStatus"].clone()), (400, json!(15)));
    let (status, body) = node
        .post(
            "/modalities/self/store-straight",
            Spec::simple("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5").to_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["SOPInstanceUID"], "1.2.3.4.5");
    let (_, instances) = node.get("/instances").await;
    assert_eq!(
        instances.as_array().unwrap().len(),
        1,
        "stored through C-STORE"
    );

    let (status, q) = node
        .post(
            "/modalities/self/query",
            json!({"Level": "Patient", "Query": {"PatientID": "P1"}}).to_string(),
        )
        .await;
    assert_eq!(status, 200);
    let q = q["ID"].as_str().unwrap().to_owned();
    let (status, child) = node
        .post(
            &format!("/queries/{q}/answers/0/query-studies"),
            json!({"Query": {"StudyDescription": ""}}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{child}");
    let child = child["ID"].as_str().unwrap().to_owned();
    let (_, answers) = node
        .get(&format!("/queries/{child}/answers?expand&simplify"))
        .await;
    assert_eq!(answers[0]["StudyInstanceUID"], "1.2.3");
    assert_eq!(answers[0]["StudyDescription"], "CT THORAX");
    let (_, level) = node.get_bytes(&format!("/queries/{child}/level")).await;
    assert_eq!(level, b"Study");
    // Studies below a study: refused.
    let (status, _) = node
        .post(&format!("/queries/{child}/answers/0/query-studies"), "{}")
        .await;
    assert_eq!(status, 400);
    let (status, _) = node
        .post(
            "/tools/dicom-echo",
            json!(["ORTHANC", "127.0.0.1", port]).to_string(),
        )
        .await;
    assert_eq!(status, 200);
    node.stop().await;
}
