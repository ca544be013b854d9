//! ZIP archives (`/{level}/{id}/archive`, `/tools/create-archive`) against
//! the reference Orthanc 1.10.1: the same files uploaded to both, every
//! archive must hold the same entries in the same order (folder names from
//! the main tags, made ASCII, numbered when repeated; instance names from the
//! modality), with bytes equal to the files uploaded; errors answer the same
//! statuses. A damaged blob fails its archive instead of shipping it.

use crate::common;

use std::collections::HashMap;
use std::io::Read;

use common::reference::ReferenceOrthanc;
use common::TestNode;
use isengard_test_support::synth::Spec;
use serde_json::{json, Value};

/// Files whose names exercise the layout: accents and punctuation, `^`,
/// empty tags, two series with the same folder name, two studies without
/// accession number nor description, instances received out of order.
fn files() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut add = |patient: (&str, &str),
                   study: (&str, &str, &str),
                   series: (&str, &'static str, u32),
                   sop: &str,
                   n: u32| {
        let mut spec = Spec::simple(patient.0, study.0, series.0, sop);
        spec.patient_name = patient.1.into();
        (spec.accession, spec.study_description) = (study.1.into(), study.2.into());
        (spec.modality, spec.series_number, spec.instance_number) = (series.1, series.2, n);
        out.push(spec.to_bytes());
    };
    let a = ("PID/007 x", "Müller-Lüdenscheidt^José^Dr.");
    let thorax = ("1.2.7.1", "ACC 1", "Thorax  CT/with contrast");
    for n in [3, 1, 2] {
        add(
            a,
            thorax,
            ("1.2.7.1.1", "CT", 1),
            &format!("1.2.7.1.1.{n}"),
            n,
        );
    }
    for n in [1, 2] {
        add(
            a,
            thorax,
            ("1.2.7.1.2", "CT", 1),
            &format!("1.2.7.1.2.{n}"),
            n,
        );
    }
    add(a, thorax, ("1.2.7.1.3", "M", 2), "1.2.7.1.3.1", 1);
    add(
        a,
        ("1.2.7.2", "", ""),
        ("1.2.7.2.1", "MR", 1),
        "1.2.7.2.1.1",
        1,
    );
    add(
        a,
        ("1.2.7.3", "", ""),
        ("1.2.7.3.1", "MR", 1),
        "1.2.7.3.1.1",
        1,
    );
    add(
        ("", ""),
        ("1.2.8.1", "a_b.c", "x"),
        ("1.2.8.1.1", "sr", 5),
        "1.2.8.1.1.1",
        1,
    );
    add(
        ("---", "^"),
        ("1.2.9.1", "/", "\\"),
        ("1.2.9.1.1", "O?", 1),
        "1.2.9.1.1.1",
        1,
    );
    out
}

/// The entries of a ZIP archive: names and contents, in archive order.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP archive");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            (file.name().to_owned(), data)
        })
        .collect()
}

struct Both {
    node: TestNode,
    orthanc: ReferenceOrthanc,
    /// SHA-256 of every uploaded file -> the file.
    uploaded: HashMap<String, Vec<u8>>,
}

impl Both {
    /// The same request to both servers: (status, body) each.
    async fn ask(&self, method: &str, path: &str, body: Option<&str>) -> [(u16, Vec<u8>); 2] {
        let mut out = Vec::new();
        for (client, base) in [
            (&self.node.client, &self.node.base),
            (&self.orthanc.client, &self.orthanc.base),
        ] {
            let url = format!("{base}{path}");
            let request = match method {
                "GET" => client.get(url),
                _ => client.post(url).body(body.unwrap_or("").to_owned()),
            };
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            out.push((status, r.bytes().await.unwrap().to_vec()));
        }
        [out.remove(0), out.remove(0)]
    }

    /// Both archives hold the same entries, in the same order, with the
    /// uploaded bytes. Returns the number of entries.
    async fn same_archive(&self, method: &str, path: &str, body: Option<&str>) -> usize {
        let [(ours_status, ours), (theirs_status, theirs)] = self.ask(method, path, body).await;
        assert_eq!(
            (ours_status, theirs_status),
            (200, 200),
            "{method} {path} {body:?}"
        );
        let (ours, theirs) = (unzip(&ours), unzip(&theirs));
        let names = |entries: &[(String, Vec<u8>)]| {
            entries.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            names(&ours),
            names(&theirs),
            "{method} {path} {body:?}: entry names"
        );
        for ((name, bytes), (_, expected)) in ours.iter().zip(&theirs) {
            assert!(bytes == expected, "{path}: {name} differs from Orthanc's");
            let hash = isengard::blob::content_hash(bytes);
            assert!(
                self.uploaded.contains_key(&hash),
                "{path}: {name} is not a file that was uploaded"
            );
        }
        ours.len()
    }

    async fn same_status(&self, method: &str, path: &str, body: Option<&str>) -> u16 {
        let [(ours, _), (theirs, _)] = self.ask(method, path, body).await;
        assert_eq!(
            ours, theirs,
            "{method} {path} {body:?}: Isengard {ours}, Orthanc {theirs}"
        );
        ours
    }
}

async fn ids(node: &TestNode, collection: &str) -> Vec<String> {
    let (_, list) = node.get(&format!("/{collection}")).await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

async fn both() -> (Both, Vec<Value>) {
    let node = TestNode::start().await;
    let orthanc = ReferenceOrthanc::start().await;
    let mut uploaded = HashMap::new();
    let mut answers = Vec::new();
    for file in files() {
        let ours = node.upload(file.clone()).await;
        let theirs = orthanc.upload(file.clone()).await;
        assert_eq!(ours["ID"], theirs["ID"], "same Orthanc ids on both sides");
        uploaded.insert(isengard::blob::content_hash(&file), file);
        answers.push(ours);
    }
    (
        Both {
            node,
            orthanc,
            uploaded,
        },
        answers,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_have_orthancs_layout() {
    let (both, answers) = both().await;
    let mut total = 0;
    for patient in ids(&both.node, "patients").await {
        total += both
            .same_archive("GET", &format!("/patients/{patient}/archive"), None)
            .await;
    }
    assert_eq!(
        total,
        answers.len(),
        "the patients' archives hold every file once"
    );
    for study in ids(&both.node, "studies").await {
        both.same_archive("GET", &format!("/studies/{study}/archive"), None)
            .await;
    }
    for series in ids(&both.node, "series").await {
        both.same_archive("GET", &format!("/series/{series}/archive"), None)
            .await;
        both.same_archive(
            "POST",
            &format!("/series/{series}/archive"),
            Some(r#"{"Synchronous": true}"#),
        )
        .await;
    }

    // Mixed levels: a series, an instance of another patient, a patient;
    // parts of a study given whole too; the bare-array form.
    let id = |i: usize, key: &str| answers[i][key].as_str().unwrap().to_owned();
    let mixed = json!({"Resources": [id(0, "ParentSeries"), id(8, "ID"), id(9, "ParentPatient")]});
    assert_eq!(
        both.same_archive("POST", "/tools/create-archive", Some(&mixed.to_string()))
            .await,
        5
    );
    let swallowed =
        json!({"Resources": [id(2, "ID"), id(1, "ID"), id(1, "ParentStudy"), id(5, "ID")]});
    assert_eq!(
        both.same_archive(
            "POST",
            "/tools/create-archive",
            Some(&swallowed.to_string())
        )
        .await,
        6
    );
    let picked = json!([id(2, "ID"), id(0, "ID")]);
    assert_eq!(
        both.same_archive("POST", "/tools/create-archive", Some(&picked.to_string()))
            .await,
        2
    );
    let everything = json!({"Resources": ids(&both.node, "patients").await});
    assert_eq!(
        both.same_archive(
            "POST",
            "/tools/create-archive",
            Some(&everything.to_string())
        )
        .await,
        answers.len()
    );

    // The answers' headers.
    let study = id(0, "ParentStudy");
    let r = both
        .node
        .client
        .get(both.node.url(&format!("/studies/{study}/archive")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/zip");
    assert_eq!(
        r.headers()["content-disposition"],
        format!("filename=\"{study}.zip\"").as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_archive_requests_fail_as_in_orthanc() {
    let (both, answers) = both().await;
    let (instance, series) = (
        answers[0]["ID"].as_str().unwrap(),
        answers[0]["ParentSeries"].as_str().unwrap(),
    );
    assert_eq!(
        both.same_status("GET", "/studies/nope/archive", None).await,
        404
    );
    assert_eq!(
        both.same_status("GET", &format!("/instances/{instance}/archive"), None)
            .await,
        404
    );
    // Orthanc does not check the level of the id: the series' archive.
    assert_eq!(
        both.same_archive("GET", &format!("/patients/{series}/archive"), None)
            .await,
        3
    );
    assert_eq!(
        both.same_status("POST", &format!("/series/{series}/archive"), Some(""))
            .await,
        400
    );
    assert_eq!(
        both.same_status(
            "POST",
            &format!("/series/{series}/archive"),
            Some("not json")
        )
        .await,
        400
    );
    assert_eq!(
        both.same_status("POST", "/tools/create-archive", Some("{}"))
            .await,
        400
    );
    assert_eq!(
        both.same_status(
            "POST",
            "/tools/create-archive",
            Some(r#"{"Resources": "x"}"#)
        )
        .await,
        400
    );
    assert_eq!(
        both.same_status(
            "POST",
            "/tools/create-archive",
            Some(r#"{"Resources": [7]}"#)
        )
        .await,
        400
    );
    assert_eq!(
        both.same_status(
            "POST",
            "/tools/create-archive",
            Some(r#"{"Resources": ["nope"]}"#)
        )
        .await,
        404
    );

    // Where Isengard differs on purpose: no jobs, no transcoding (Orthanc
    // would start a job, or transcode).
    let node = &both.node;
    let (status, error) = node
        .post(
            &format!("/series/{series}/archive"),
            r#"{"Asynchronous": true}"#,
        )
        .await;
    assert_eq!(
        (status, error["OrthancStatus"].as_i64()),
        (501, Some(2)),
        "{error}"
    );
    let (status, _) = node
        .post(
            "/tools/create-archive",
            format!(r#"{{"Resources": ["{series}"], "Synchronous": false}}"#),
        )
        .await;
    assert_eq!(status, 501);
    let (status, _) = node
        .get(&format!(
            "/series/{series}/archive?transcode=1.2.840.10008.1.2.1"
        ))
        .await;
    assert_eq!(status, 501);
    // An empty selection is an empty archive (Orthanc answers an empty body).
    let r = node
        .client
        .post(node.url("/tools/create-archive"))
        .body(r#"{"Resources": []}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(unzip(&r.bytes().await.unwrap()).is_empty());
}

/// A blob damaged on disk after it was read (and cached) is noticed: the file
/// is refused, and an archive holding it is cut short rather than completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_blob_fails_its_reads() {
    let node = TestNode::start().await;
    let mut last = Value::Null;
    for file in files().into_iter().take(3) {
        last = node.upload(file).await;
    }
    let (id, series) = (
        last["ID"].as_str().unwrap(),
        last["ParentSeries"].as_str().unwrap(),
    );
    let (_, instance) = node.get(&format!("/instances/{id}")).await;
    let hash = instance["FileUuid"].as_str().unwrap();
    let path = node
        .dir
        .path()
        .join("blobs")
        .join(&hash[0..2])
        .join(&hash[2..4])
        .join(hash);
    let good = std::fs::read(&path).unwrap();
    // Written long ago as far as its time says, so that reads trust (and
    // cache) it: a file modified within the last second is always hashed.
    let age = || {
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
            .unwrap();
    };
    age();
    for _ in 0..2 {
        assert_eq!(
            node.get_bytes(&format!("/instances/{id}/file")).await.1,
            good
        );
    }
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 0xff;
    std::fs::write(&path, &bad).unwrap();
    age();
    let (status, error) = node.get(&format!("/instances/{id}/file")).await;
    assert_eq!(
        (status, error["OrthancError"].as_str()),
        (500, Some("Corrupted file (e.g. inconsistent MD5 hash)"))
    );
    let r = node
        .client
        .get(node.url(&format!("/series/{series}/archive")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "the archive starts before the damaged file is reached"
    );
    assert!(
        r.bytes().await.is_err(),
        "an archive with a damaged file is cut short"
    );
    std::fs::write(&path, &good).unwrap();
    let r = node
        .client
        .get(node.url(&format!("/series/{series}/archive")))
        .send()
        .await
        .unwrap();
    assert_eq!(unzip(&r.bytes().await.unwrap()).len(), 3);
}
