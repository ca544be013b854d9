//! Compares `isengard::dicom` with the reference Orthanc 1.10.1 on pydicom's
//! test files, through the fixtures recorded by
//! `scripts/record-orthanc-fixtures.py` (`node/tests/fixtures/orthanc/`).
//!
//! Every accepted file is checked for: IDs, main tags of the 4 levels,
//! ExpectedNumberOfInstances, `/tags` (full, simplified, short), `/header`
//! (3 forms), the TransferSyntax / SopClassUid / PixelDataOffset metadata and
//! the recorded `/content` samples. Refused files must be refused by `parse`
//! with the matching error. Known differences are listed in `EXCEPTIONS`,
//! with their reason; an exception that no longer applies fails the test too.

use crate::common;
use common::orthanc_fixtures;

use base64::Engine;
use isengard::dicom::{self, json, Content, DicomError};
use serde_json::Value;

/// (file stem, aspect, reason) of each accepted difference with Orthanc.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

fn tags_json(tags: &isengard::index::model::MainTags) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn check_json(
    stem: &str,
    aspect: &str,
    ours: &Value,
    theirs: &Value,
    failures: &mut Vec<(String, String, String)>,
) {
    let mut out = Vec::new();
    common::json_diff("", ours, theirs, 9, &mut out);
    if !out.is_empty() {
        failures.push((stem.into(), aspect.into(), out.join("; ")));
    }
}

fn check_file(stem: &str, bytes: &[u8], fx: &Value, failures: &mut Vec<(String, String, String)>) {
    let p = match dicom::parse(bytes) {
        Ok(p) => p,
        Err(e) => {
            failures.push((stem.into(), "parse".into(), format!("{e:?}")));
            return;
        }
    };
    let answer = &fx["post"]["answer"];
    let ids = serde_json::json!({
        "ID": p.ids.instance, "ParentSeries": p.ids.series, "ParentStudy": p.ids.study, "ParentPatient": p.ids.patient,
    });
    let theirs_ids = serde_json::json!({
        "ID": answer["ID"], "ParentSeries": answer["ParentSeries"], "ParentStudy": answer["ParentStudy"],
        "ParentPatient": answer["ParentPatient"],
    });
    check_json(stem, "ids", &ids, &theirs_ids, failures);
    check_json(
        stem,
        "patient_tags",
        &tags_json(&p.patient_tags),
        &fx["patient"]["MainDicomTags"],
        failures,
    );
    check_json(
        stem,
        "study_tags",
        &tags_json(&p.study_tags),
        &fx["study"]["MainDicomTags"],
        failures,
    );
    check_json(
        stem,
        "series_tags",
        &tags_json(&p.series_tags),
        &fx["series"]["MainDicomTags"],
        failures,
    );
    check_json(
        stem,
        "instance_tags",
        &tags_json(&p.instance_tags),
        &fx["instance"]["MainDicomTags"],
        failures,
    );
    let expected = dicom::expected_number_of_instances(&p.series_tags)
        .map(Value::from)
        .unwrap_or(Value::Null);
    check_json(
        stem,
        "expected_instances",
        &expected,
        &fx["series"]["ExpectedNumberOfInstances"],
        failures,
    );
    check_json(stem, "tags", &json::full(&p.object), &fx["tags"], failures);
    check_json(
        stem,
        "simplified",
        &json::simplified(&p.object),
        &fx["simplified"],
        failures,
    );
    check_json(
        stem,
        "short",
        &json::short(&p.object),
        &fx["short"],
        failures,
    );
    check_json(
        stem,
        "header",
        &json::header_full(&p.object),
        &fx["header"],
        failures,
    );
    check_json(
        stem,
        "header_simplified",
        &json::header_simplified(&p.object),
        &fx["header_simplified"],
        failures,
    );
    check_json(
        stem,
        "header_short",
        &json::header_short(&p.object),
        &fx["header_short"],
        failures,
    );
    let md = &fx["metadata"];
    let ours_md = serde_json::json!({
        "TransferSyntax": p.transfer_syntax,
        "SopClassUid": p.sop_class_uid,
        "PixelDataOffset": p.pixel_data_offset.map(|o| o.to_string()),
    });
    let theirs_md = serde_json::json!({
        "TransferSyntax": md["TransferSyntax"], "SopClassUid": md["SopClassUid"], "PixelDataOffset": md["PixelDataOffset"],
    });
    check_json(stem, "metadata", &ours_md, &theirs_md, failures);
    check_content(stem, &p, &fx["content"], failures);
}

fn check_content(
    stem: &str,
    p: &dicom::ParsedDicom,
    samples: &Value,
    failures: &mut Vec<(String, String, String)>,
) {
    let mut out = Vec::new();
    for (path, expected) in samples.as_object().expect("content samples") {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let ours = dicom::content(&p.object, &segments);
        let ok = match (&ours, expected.get("children"), expected.get("value_b64")) {
            (Ok(Content::Children(c)), Some(Value::Array(e)), _) => {
                c.iter()
                    .map(|s| Value::String(s.clone()))
                    .collect::<Vec<_>>()
                    == *e
            }
            (Ok(Content::Value(v)), _, Some(Value::String(b64))) => {
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap()
                    == *v
            }
            (Err(DicomError::InexistentTag), _, _) => {
                expected.get("status") == Some(&Value::from(404))
            }
            _ => false,
        };
        if !ok && out.len() < 5 {
            let ours = match ours {
                Ok(Content::Value(v)) => {
                    format!("value {:?}", String::from_utf8_lossy(&v[..v.len().min(60)]))
                }
                other => format!("{other:?}").chars().take(200).collect(),
            };
            out.push(format!(
                "{path}: ours {ours} vs orthanc {}",
                common::brief(Some(expected))
            ));
        }
    }
    if !out.is_empty() {
        failures.push((stem.into(), "content".into(), out.join("; ")));
    }
}

#[test]
fn matches_orthanc_on_pydicom_files() {
    let data = common::pydicom_test_files();
    let index = orthanc_fixtures::index();
    let mut failures: Vec<(String, String, String)> = Vec::new();
    for file in orthanc_fixtures::accepted(&index, &data) {
        check_file(&file.stem, &file.bytes, &file.fixture, &mut failures);
    }
    for (stem, refused) in index["refused"].as_object().unwrap() {
        let src = data
            .join(refused["dir"].as_str().unwrap())
            .join(format!("{stem}.dcm"));
        let bytes = std::fs::read(&src).unwrap();
        let status = refused["status"].as_u64().unwrap();
        let outcome = dicom::parse(&bytes);
        let ok = match (&outcome, status) {
            (Err(DicomError::BadFileFormat { size, .. }), 400) => *size == bytes.len(),
            (Err(DicomError::MissingTag { .. }), 404) => true,
            _ => false,
        };
        if !ok {
            let got = match outcome {
                Ok(_) => "accepted".to_string(),
                Err(e) => format!("{e:?}"),
            };
            failures.push((
                stem.clone(),
                "refusal".into(),
                format!("orthanc {status}, ours {got}"),
            ));
        }
    }
    let mut unexpected = Vec::new();
    for (stem, aspect, detail) in &failures {
        if !EXCEPTIONS.iter().any(|(s, a, _)| s == stem && a == aspect) {
            unexpected.push(format!("{stem} [{aspect}] {detail}"));
        }
    }
    let stale: Vec<_> = EXCEPTIONS
        .iter()
        .filter(|(s, a, _)| !failures.iter().any(|(fs, fa, _)| fs == s && fa == a))
        .map(|(s, a, _)| format!("{s} [{a}]"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} differences with Orthanc:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    assert!(
        stale.is_empty(),
        "exceptions that no longer apply: {stale:?}"
    );
}
