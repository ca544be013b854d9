//! Media archives (`/{level}/{id}/media`, `/tools/create-media`,
//! `/tools/create-media-extended`) against the reference Orthanc 1.10.1: the
//! same files uploaded to both must give ZIPs with the same names, and
//! DICOMDIRs whose directory records (as DCMTK's `dcmdump` reads them, offsets
//! left aside) are the same; DCMTK reads ours as a DICOMDIR and, when
//! dicom3tools is installed, `dciodvfy` finds no error in it. A media ZIP
//! uploaded to `POST /instances` gives its instances back.

use crate::common;

use std::io::Read;
use std::process::Command;

use common::reference::ReferenceOrthanc;
use common::TestNode;
use isengard_test_support::synth::Spec;

fn files() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (patient, name, study, series, n, modality) in [
        ("P1", "Müller^José", "1.2.9.1", "1.2.9.1.1", 2, "CT"),
        ("P1", "Müller^José", "1.2.9.1", "1.2.9.1.1", 1, "CT"),
        ("P1", "Müller^José", "1.2.9.1", "1.2.9.1.2", 1, "MR"),
        ("P2", "Doe^Jane", "1.2.9.2", "1.2.9.2.1", 1, "CT"),
    ] {
        let mut spec = Spec::simple(patient, study, series, &format!("{series}.{n}"));
        spec.patient_name = name.into();
        spec.study_description = "Thorax é".into();
        spec.modality = modality;
        spec.instance_number = n;
        out.push(spec.to_bytes());
    }
    out
}

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().to_owned(), data)
        })
        .collect()
}

/// The directory records as `dcmdump` prints them, without offsets, UIDs of
/// the meta header and the study time fallbacks (none here).
fn records(dicomdir: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("DICOMDIR");
    std::fs::write(&path, dicomdir).unwrap();
    let out = Command::new("dcmdump")
        .arg(&path)
        .output()
        .expect("dcmdump");
    assert!(
        out.status.success(),
        "dcmdump refuses the DICOMDIR: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "dcmdump warns: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if let Ok(check) = Command::new("dciodvfy").arg(&path).output() {
        let all = String::from_utf8_lossy(&check.stdout).into_owned()
            + &String::from_utf8_lossy(&check.stderr);
        assert!(!all.contains("Error"), "dciodvfy: {all}");
    }
    text.lines()
        .filter(|l| l.starts_with("  "))
        .filter(|l| !l.contains(" up ") && !l.contains("offset="))
        .map(|l| l.split('#').next().unwrap_or("").trim_end().to_owned())
        .collect()
}

struct Pair {
    node: TestNode,
    orthanc: ReferenceOrthanc,
}

impl Pair {
    async fn post(&self, path: &str, body: &str) -> [(u16, Vec<u8>); 2] {
        let mut out = Vec::new();
        for (client, base) in [
            (&self.node.client, &self.node.base),
            (&self.orthanc.client, &self.orthanc.base),
        ] {
            let r = client
                .post(format!("{base}{path}"))
                .body(body.to_owned())
                .send()
                .await
                .unwrap();
            out.push((r.status().as_u16(), r.bytes().await.unwrap().to_vec()));
        }
        out.try_into().unwrap()
    }

    async fn get(&self, path: &str) -> [(u16, Vec<u8>); 2] {
        let mut out = Vec::new();
        for (client, base) in [
            (&self.node.client, &self.node.base),
            (&self.orthanc.client, &self.orthanc.base),
        ] {
            let r = client.get(format!("{base}{path}")).send().await.unwrap();
            out.push((r.status().as_u16(), r.bytes().await.unwrap().to_vec()));
        }
        out.try_into().unwrap()
    }

    /// Both answers are media archives with the same names and records.
    fn same_media(&self, what: &str, [(s1, ours), (s2, theirs)]: [(u16, Vec<u8>); 2]) -> usize {
        assert_eq!((s1, s2), (200, 200), "{what}");
        let (ours, theirs) = (unzip(&ours), unzip(&theirs));
        let names = |z: &[(String, Vec<u8>)]| z.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(&ours), names(&theirs), "{what}: names");
        let dicomdir =
            |z: &[(String, Vec<u8>)]| z.iter().find(|f| f.0 == "DICOMDIR").unwrap().1.clone();
        assert_eq!(
            records(&dicomdir(&ours)),
            records(&dicomdir(&theirs)),
            "{what}: records"
        );
        for ((_, a), (_, b)) in ours.iter().zip(&theirs).filter(|(a, _)| a.0 != "DICOMDIR") {
            assert_eq!(a, b, "{what}: the files as uploaded");
        }
        ours.len()
    }
}

#[tokio::test]
async fn media_archives_are_the_reference_s() {
    let pair = Pair {
        node: TestNode::start().await,
        orthanc: ReferenceOrthanc::start().await,
    };
    let mut ids = Vec::new();
    for f in files() {
        ids.push(pair.node.upload(f.clone()).await);
        pair.orthanc.upload(f).await;
    }
    let patient = ids[0]["ParentPatient"].as_str().unwrap().to_owned();
    let study = ids[0]["ParentStudy"].as_str().unwrap().to_owned();
    let series = ids[2]["ParentSeries"].as_str().unwrap().to_owned();
    assert_eq!(
        pair.same_media(
            "patient",
            pair.get(&format!("/patients/{patient}/media")).await
        ),
        4
    );
    pair.same_media(
        "extended",
        pair.get(&format!("/patients/{patient}/media?extended"))
            .await,
    );
    pair.same_media(
        "study",
        pair.post(&format!("/studies/{study}/media"), "{}").await,
    );
    pair.same_media("series", pair.get(&format!("/series/{series}/media")).await);
    let all: Vec<String> = ids
        .iter()
        .map(|i| i["ID"].as_str().unwrap().to_owned())
        .collect();
    let list = serde_json::to_string(&all).unwrap();
    assert_eq!(
        pair.same_media("batch", pair.post("/tools/create-media", &list).await),
        5
    );
    let body = format!("{{\"Resources\": {list}, \"Extended\": false}}");
    pair.same_media(
        "batch extended",
        pair.post("/tools/create-media-extended", &body).await,
    );

    // Bad requests answer as the reference does.
    for (path, body) in [
        ("/tools/create-media", "{\"Resources\": [\"nope\"]}"),
        ("/tools/create-media", "not json"),
        (
            "/tools/create-media",
            "{\"Resources\": [], \"Extended\": 1}",
        ),
    ] {
        let [(ours, _), (theirs, _)] = pair.post(path, body).await;
        assert_eq!(ours, theirs, "{path} {body}");
    }
    let [(ours, _), (theirs, _)] = pair.get("/instances/nope/media").await;
    assert_eq!(ours, theirs);
}

#[tokio::test]
async fn a_media_zip_uploads_back() {
    let node = TestNode::start().await;
    let first = node.upload(files().remove(0)).await;
    let study = first["ParentStudy"].as_str().unwrap();
    let (status, media) = node.get_bytes(&format!("/studies/{study}/media")).await;
    assert_eq!(status, 200);
    node.delete(&format!("/studies/{study}")).await;
    let (status, answer) = node.post("/instances", media).await;
    assert_eq!(status, 200);
    let answer = answer.as_array().unwrap();
    assert_eq!(answer.len(), 1, "the DICOMDIR is skipped");
    assert_eq!(answer[0]["ID"], first["ID"]);
    assert_eq!(answer[0]["Status"], "Success");
}
