//! The resource routes of the REST API in Orthanc's shapes (checked against
//! Orthanc 1.10.1): listings with `expand`, `since` and `limit`, children and
//! parents, statistics, ZIP upload, deletion, error bodies, `/system`,
//! `/changes`, `/exports` and the small `/tools`. An instance's metadata,
//! attachments and content: `rest_instance_data.rs`.

use crate::common;

use std::io::Write;

use common::{strings, TestNode};
use isengard::dicom::orthanc_ids;
use isengard_test_support::synth::{dataset, Shape, Spec};
use serde_json::{json, Value};

fn shape() -> Shape {
    Shape {
        patients: 3,
        studies_per_patient: 2,
        series_per_study: 2,
        instances_per_series: 2,
        rows: 4,
        columns: 4,
        seed: 11,
    }
}

/// Distinct ids at `level` in order of first appearance (creation order).
fn ids_in_order(specs: &[Spec], level: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in specs {
        let ids = orthanc_ids(&s.patient_id, &s.study_uid, &s.series_uid, &s.sop_uid);
        let id = match level {
            "patients" => ids.patient,
            "studies" => ids.study,
            "series" => ids.series,
            _ => ids.instance,
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

async fn loaded() -> (TestNode, Vec<Spec>, Vec<Vec<u8>>) {
    let node = TestNode::start().await;
    let specs = dataset(shape());
    let files: Vec<Vec<u8>> = specs.iter().map(Spec::to_bytes).collect();
    for f in &files {
        node.upload(f.clone()).await;
    }
    (node, specs, files)
}

#[tokio::test]
async fn listings_expand_and_paging() {
    let (node, specs, _) = loaded().await;
    for collection in ["patients", "studies", "series", "instances"] {
        let order = ids_in_order(&specs, collection);
        let (status, all) = node.get(&format!("/{collection}")).await;
        assert_eq!(status, 200);
        let mut all = strings(&all);
        all.sort();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(all, sorted, "/{collection}");
        // since + limit page through creation order.
        let mut pages = Vec::new();
        for since in (0..order.len()).step_by(2) {
            let (_, page) = node
                .get(&format!("/{collection}?since={since}&limit=2"))
                .await;
            pages.extend(strings(&page));
        }
        assert_eq!(pages, order, "/{collection} pages in creation order");
        let (_, beyond) = node
            .get(&format!("/{collection}?since={}&limit=5", order.len()))
            .await;
        assert_eq!(beyond, json!([]));
        // expand gives the resources as GET /{collection}/{id} shows them.
        let (_, expanded) = node
            .get(&format!("/{collection}?expand&since=1&limit=2"))
            .await;
        let expanded = expanded.as_array().unwrap();
        assert_eq!(expanded.len(), 2);
        for (r, id) in expanded.iter().zip(&order[1..3]) {
            let (_, direct) = node.get(&format!("/{collection}/{id}")).await;
            assert_eq!(r, &direct);
        }
        // Orthanc wants both or neither.
        for query in ["since=1", "limit=1"] {
            let (status, error) = node.get(&format!("/{collection}?{query}")).await;
            assert_eq!(status, 400, "/{collection}?{query}: {error}");
            assert_eq!(error["OrthancStatus"], 8);
        }
    }
}

#[tokio::test]
async fn children_parents_and_statistics() {
    let (node, specs, files) = loaded().await;
    let s = &specs[0];
    let ids = orthanc_ids(&s.patient_id, &s.study_uid, &s.series_uid, &s.sop_uid);
    let size_of = |pred: &dyn Fn(&Spec) -> bool| -> u64 {
        specs
            .iter()
            .zip(&files)
            .filter(|(s, _)| pred(s))
            .map(|(_, f)| f.len() as u64)
            .sum()
    };
    let same_patient = |x: &Spec| x.patient_id == s.patient_id;
    let same_study = |x: &Spec| x.study_uid == s.study_uid;
    let same_series = |x: &Spec| x.series_uid == s.series_uid;
    let same_instance = |x: &Spec| x.sop_uid == s.sop_uid;
    type Belongs<'a> = &'a dyn Fn(&Spec) -> bool;
    let levels: [(&str, &str, Belongs); 4] = [
        ("patients", ids.patient.as_str(), &same_patient),
        ("studies", ids.study.as_str(), &same_study),
        ("series", ids.series.as_str(), &same_series),
        ("instances", ids.instance.as_str(), &same_instance),
    ];
    let mine: Vec<Spec> = specs.iter().filter(|x| same_patient(x)).cloned().collect();
    // Children: every lower level, expanded, in creation order.
    for (i, (collection, id, pred)) in levels.iter().enumerate() {
        for (child_collection, _, _) in &levels[i + 1..] {
            let (status, children) = node
                .get(&format!("/{collection}/{id}/{child_collection}"))
                .await;
            assert_eq!(status, 200);
            let got: Vec<String> = children
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["ID"].as_str().unwrap().to_owned())
                .collect();
            let below: Vec<Spec> = mine.iter().filter(|x| pred(x)).cloned().collect();
            let mut want = ids_in_order(&below, child_collection);
            let mut got_sorted = got.clone();
            want.sort();
            got_sorted.sort();
            assert_eq!(got_sorted, want, "/{collection}/{id}/{child_collection}");
            let (_, first) = node.get(&format!("/{child_collection}/{}", got[0])).await;
            assert_eq!(children[0], first, "children are expanded");
        }
        // Parents: every upper level.
        for (parent_level, (parent_collection, parent_id, _)) in
            ["patient", "study", "series"].iter().zip(&levels).take(i)
        {
            let (status, parent) = node
                .get(&format!("/{collection}/{id}/{parent_level}"))
                .await;
            assert_eq!(status, 200, "/{collection}/{id}/{parent_level}");
            assert_eq!(parent["ID"], json!(parent_id));
            let (_, direct) = node.get(&format!("/{parent_collection}/{parent_id}")).await;
            assert_eq!(parent, direct);
        }
        // A level is not its own parent or child.
        let (status, _) = node.get(&format!("/{collection}/{id}/{collection}")).await;
        assert_eq!(status, 404, "/{collection}/{id}/{collection}");

        // Statistics: counts below the level, sizes as strings, MB as numbers.
        let (status, stats) = node.get(&format!("/{collection}/{id}/statistics")).await;
        assert_eq!(status, 200);
        let size = size_of(*pred).to_string();
        let mut want = json!({
            "DicomDiskSize": size, "DicomDiskSizeMB": 0, "DicomUncompressedSize": size, "DicomUncompressedSizeMB": 0,
            "DiskSize": size, "DiskSizeMB": 0, "UncompressedSize": size, "UncompressedSizeMB": 0,
        });
        let below: Vec<Spec> = specs.iter().filter(|x| pred(x)).cloned().collect();
        if i < 1 {
            want["CountStudies"] = json!(ids_in_order(&below, "studies").len());
        }
        if i < 2 {
            want["CountSeries"] = json!(ids_in_order(&below, "series").len());
        }
        if i < 3 {
            want["CountInstances"] = json!(below.len());
        }
        assert_eq!(stats, want, "/{collection}/{id}/statistics");
    }
    // A resource asked at the wrong level is unknown.
    let (status, error) = node.get(&format!("/studies/{}", ids.series)).await;
    assert_eq!((status, &error["OrthancStatus"]), (404, &json!(17)));
}

fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.add_directory("empty/", options).unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

#[tokio::test]
async fn zip_upload_stores_the_dicom_files_only() {
    let node = TestNode::start().await;
    let specs: Vec<Spec> = dataset(Shape {
        patients: 1,
        studies_per_patient: 1,
        series_per_study: 1,
        instances_per_series: 3,
        ..shape()
    });
    let archive = zip_of(&[
        ("a.dcm", specs[0].to_bytes()),
        ("readme.txt", b"not a DICOM file".to_vec()),
        ("dir/b.dcm", specs[1].to_bytes()),
        ("c", specs[2].to_bytes()),
    ]);
    let (status, answer) = node.post("/instances", archive).await;
    assert_eq!(status, 200, "{answer}");
    let answer = answer
        .as_array()
        .expect("an array, one answer per DICOM file");
    assert_eq!(answer.len(), 3);
    for (a, s) in answer.iter().zip(&specs) {
        let ids = orthanc_ids(&s.patient_id, &s.study_uid, &s.series_uid, &s.sop_uid);
        assert_eq!(a["ID"], json!(ids.instance));
        assert_eq!(a["Status"], "Success");
    }
    assert_eq!(node.get("/statistics").await.1["CountInstances"], 3);
}

#[tokio::test]
async fn deletion_at_each_level_reports_the_remaining_ancestor() {
    let (node, specs, _) = loaded().await;
    let s = &specs[0];
    let ids = orthanc_ids(&s.patient_id, &s.study_uid, &s.series_uid, &s.sop_uid);
    let remaining = |collection: &str, id: &str, kind: &str| json!({"ID": id, "Path": format!("/{collection}/{id}"), "Type": kind});
    // One of two instances: the series remains.
    let (status, answer) = node.delete(&format!("/instances/{}", ids.instance)).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["RemainingAncestor"],
        remaining("series", &ids.series, "Series")
    );
    // The last instance of a series goes with it: the study remains.
    let (_, series) = node.get(&format!("/series/{}", ids.series)).await;
    let last = series["Instances"][0].as_str().unwrap().to_owned();
    let (_, answer) = node.delete(&format!("/instances/{last}")).await;
    assert_eq!(
        answer["RemainingAncestor"],
        remaining("studies", &ids.study, "Study")
    );
    assert_eq!(node.get(&format!("/series/{}", ids.series)).await.0, 404);
    // One of two series: the study remains.
    let (_, study) = node.get(&format!("/studies/{}", ids.study)).await;
    assert_eq!(study["Series"].as_array().unwrap().len(), 1);
    let other_study = ids_in_order(&specs[..8], "studies")[1].clone();
    let (_, other) = node.get(&format!("/studies/{other_study}")).await;
    let series = other["Series"][0].as_str().unwrap();
    let (_, answer) = node.delete(&format!("/series/{series}")).await;
    assert_eq!(
        answer["RemainingAncestor"],
        remaining("studies", &other_study, "Study")
    );
    // One of two studies: the patient remains.
    let (_, answer) = node.delete(&format!("/studies/{}", ids.study)).await;
    assert_eq!(
        answer["RemainingAncestor"],
        remaining("patients", &ids.patient, "Patient")
    );
    // A patient: nothing remains above.
    let (_, answer) = node.delete(&format!("/patients/{}", ids.patient)).await;
    assert_eq!(answer, json!({"RemainingAncestor": null}));
    let left: Vec<&Spec> = specs
        .iter()
        .filter(|x| x.patient_id != s.patient_id)
        .collect();
    let (_, stats) = node.get("/statistics").await;
    assert_eq!(stats["CountInstances"], left.len());
    assert_eq!(stats["CountPatients"], 2);
    // Deleting again: unknown.
    let (status, error) = node.delete(&format!("/patients/{}", ids.patient)).await;
    assert_eq!((status, &error["OrthancStatus"]), (404, &json!(17)));
}

#[tokio::test]
async fn errors_system_changes_exports_and_tools() {
    let node = TestNode::start().await;
    // An unknown URI: Orthanc's bare 404.
    let (status, body) = node.get_bytes("/nope").await;
    assert_eq!((status, body.len()), (404, 0));
    let (status, error) = node.get("/patients/nope").await;
    assert_eq!(
        (status, error),
        (404, json!({"HttpError": "Not Found", "HttpStatus": 404, "Message": "Unknown resource", "Method": "GET",
               "OrthancError": "Unknown resource", "OrthancStatus": 17, "Uri": "/patients/nope"}))
    );
    let r = node
        .client
        .delete(node.url("/system"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(
        r.headers()
            .get("allow")
            .is_some_and(|a| a.to_str().unwrap().contains("GET")),
        "{:?}",
        r.headers()
    );

    let (status, system) = node.get("/system").await;
    assert_eq!(status, 200);
    assert_eq!(system["Version"], "1.10.1");
    assert_eq!(system["ApiVersion"], 16);
    assert_eq!(system["DatabaseVersion"], 6);
    for key in [
        "Name",
        "DicomAet",
        "DicomPort",
        "HttpPort",
        "PluginsEnabled",
        "CheckRevisions",
        "IsHttpServerSecure",
    ] {
        assert!(system.get(key).is_some(), "/system has {key}: {system}");
    }

    // Changes: since/limit pages, last, clearing keeps the sequence growing.
    let specs = dataset(Shape {
        patients: 2,
        studies_per_patient: 1,
        series_per_study: 1,
        instances_per_series: 2,
        ..shape()
    });
    for s in &specs {
        node.upload(s.to_bytes()).await;
    }
    // 2 patients x (NewInstance, NewSeries, NewStudy, NewPatient) + 2 x NewInstance.
    let (_, all) = node.get("/changes").await;
    let all = all["Changes"].as_array().unwrap().clone();
    assert_eq!(all.len(), 10);
    let seqs: Vec<u64> = all.iter().map(|c| c["Seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    let (_, page) = node.get("/changes?since=2&limit=3").await;
    assert_eq!(page["Changes"], json!(all[2..5]));
    assert_eq!(
        (page["Done"].clone(), page["Last"].clone()),
        (json!(false), json!(5))
    );
    let (_, page) = node.get("/changes?since=8&limit=5").await;
    assert_eq!(
        (
            page["Changes"].as_array().unwrap().len(),
            page["Done"].clone(),
            page["Last"].clone()
        ),
        (2, json!(true), json!(10))
    );
    let (_, last) = node.get("/changes?last").await;
    assert_eq!(last, json!({"Changes": [all[9]], "Done": true, "Last": 10}));
    let change = &all[0];
    assert_eq!(
        change["Path"],
        json!(format!("/instances/{}", change["ID"].as_str().unwrap()))
    );
    assert_eq!(change["ResourceType"], "Instance");
    assert_eq!(node.delete("/changes").await, (200, json!({})));
    let (_, cleared) = node.get("/changes").await;
    assert_eq!(cleared["Changes"], json!([]));
    let (_, last) = node.get("/changes?last").await;
    assert_eq!(
        last,
        json!({"Changes": [], "Done": true, "Last": 10}),
        "Orthanc keeps Last after clearing"
    );
    node.upload(Spec::simple("P9", "9.1", "9.1.1", "9.1.1.1").to_bytes())
        .await;
    let (_, after) = node.get("/changes").await;
    assert_eq!(
        after["Changes"][0]["Seq"], 11,
        "the sequence keeps growing after a clear"
    );

    assert_eq!(
        node.get("/exports").await,
        (200, json!({"Done": true, "Exports": [], "Last": 0}))
    );

    let (status, now) = node.get_bytes("/tools/now").await;
    let now = String::from_utf8(now).unwrap();
    assert_eq!(status, 200);
    assert!(
        chrono::NaiveDateTime::parse_from_str(&now, "%Y%m%dT%H%M%S").is_ok(),
        "{now}"
    );
    let (status, now_local) = node.get_bytes("/tools/now-local").await;
    assert!(
        status == 200
            && chrono::NaiveDateTime::parse_from_str(
                &String::from_utf8(now_local).unwrap(),
                "%Y%m%dT%H%M%S"
            )
            .is_ok()
    );

    let (_, level) = node.get_bytes("/tools/log-level").await;
    assert_eq!(level, b"default");
    let r = node
        .client
        .put(node.url("/tools/log-level"))
        .body("verbose")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(node.get_bytes("/tools/log-level").await.1, b"verbose");
    let r = node
        .client
        .put(node.url("/tools/log-level"))
        .body("bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let error: Value = r.json().await.unwrap();
    assert_eq!(error["OrthancStatus"], 3);
    assert_eq!(
        node.get_bytes("/tools/log-level").await.1,
        b"verbose",
        "unchanged by a bad value"
    );
    let r = node
        .client
        .put(node.url("/tools/log-level"))
        .body("default")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
