//! `/tools/find` and `/tools/lookup` over a synthetic archive of several
//! patients, studies and series. Every expected answer is computed from the
//! generated specs; the matching rules asserted here were checked against
//! Orthanc 1.10.1 (case-insensitive by default, person names included; a
//! constraint on a main tag of a lower level matches nothing; wildcards only on
//! text VRs; an empty value is universal).

use crate::common;

use std::collections::BTreeSet;

use common::TestNode;
use isengard::dicom::orthanc_ids;
use isengard_test_support::synth::{dataset, Shape, Spec};
use serde_json::{json, Value};

/// Patient names chosen for the case and wildcard rules (ASCII: Orthanc
/// does not fold accents, Isengard does, and that is not what is tested here).
const NAMES: &[&str] = &[
    "Smith^John",
    "smithers^Jo",
    "Doe^Jane",
    "Martin^Anna",
    "Jones^Bob",
];

fn specs() -> Vec<Spec> {
    let shape = Shape {
        patients: 5,
        studies_per_patient: 2,
        series_per_study: 2,
        instances_per_series: 2,
        rows: 4,
        columns: 4,
        seed: 7,
    };
    let mut specs = dataset(shape);
    for s in &mut specs {
        let p: usize = s.patient_id[3..].parse::<usize>().unwrap() - 1;
        s.patient_name = NAMES[p].into();
        // Mixed modalities inside studies: the second series of every other
        // study becomes the other modality.
        let study_index = s.accession[1..].parse::<u32>().unwrap();
        if s.series_number == 2 && study_index % 2 == 0 {
            s.modality = if s.modality == "CT" { "MR" } else { "CT" };
        }
        // Rows is a main tag of no level: only a file can answer for it.
        if p == 2 {
            s.rows = 8;
            s.columns = 8;
        }
    }
    specs
}

fn id_at(s: &Spec, level: &str) -> String {
    let ids = orthanc_ids(&s.patient_id, &s.study_uid, &s.series_uid, &s.sop_uid);
    match level {
        "Patient" => ids.patient,
        "Study" => ids.study,
        "Series" => ids.series,
        _ => ids.instance,
    }
}

/// The resources of `level` holding at least one instance that satisfies `pred`.
fn expected(specs: &[Spec], level: &str, pred: impl Fn(&Spec) -> bool) -> BTreeSet<String> {
    specs
        .iter()
        .filter(|s| pred(s))
        .map(|s| id_at(s, level))
        .collect()
}

/// The resources of `level` whose instances' modalities, taken together, satisfy `pred`.
fn studies_with(specs: &[Spec], pred: impl Fn(&BTreeSet<&str>) -> bool) -> BTreeSet<String> {
    let mut modalities: std::collections::BTreeMap<String, BTreeSet<&str>> = Default::default();
    for s in specs {
        modalities
            .entry(id_at(s, "Study"))
            .or_default()
            .insert(s.modality);
    }
    modalities
        .into_iter()
        .filter(|(_, m)| pred(m))
        .map(|(id, _)| id)
        .collect()
}

async fn find(node: &TestNode, request: Value) -> Vec<String> {
    let (status, answer) = node.post("/tools/find", request.to_string()).await;
    assert_eq!(status, 200, "{request} -> {answer}");
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

async fn find_set(node: &TestNode, level: &str, query: Value) -> BTreeSet<String> {
    let ids = find(node, json!({"Level": level, "Query": query})).await;
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "no duplicates in {ids:?}");
    set
}

async fn find_error(node: &TestNode, body: &str) -> (u16, Value) {
    node.post("/tools/find", body.to_owned()).await
}

async fn loaded() -> (TestNode, Vec<Spec>) {
    let node = TestNode::start().await;
    let specs = specs();
    for s in &specs {
        node.upload(s.to_bytes()).await;
    }
    (node, specs)
}

#[tokio::test]
async fn exact_wildcard_and_case_rules() {
    let (node, specs) = loaded().await;
    let all = |level| expected(&specs, level, |_| true);
    for level in ["Patient", "Study", "Series", "Instance"] {
        assert_eq!(
            find_set(&node, level, json!({})).await,
            all(level),
            "{level} without constraints"
        );
    }
    assert_eq!(
        find_set(&node, "Patient", json!({"PatientID": "PAT000002"})).await,
        expected(&specs, "Patient", |s| s.patient_id == "PAT000002")
    );
    // Person names: case-insensitive by default, wildcards, leading `*`, `?`.
    let smiths = expected(&specs, "Patient", |s| {
        s.patient_name.to_lowercase().starts_with("smith")
    });
    assert_eq!(smiths.len(), 2);
    assert_eq!(
        find_set(&node, "Patient", json!({"PatientName": "smith*"})).await,
        smiths
    );
    assert_eq!(
        find_set(&node, "Patient", json!({"PatientName": "SMITH^JOHN"})).await,
        expected(&specs, "Patient", |s| s.patient_name == "Smith^John")
    );
    assert_eq!(
        find_set(&node, "Patient", json!({"PatientName": "?mith^john"})).await,
        expected(&specs, "Patient", |s| s.patient_name == "Smith^John")
    );
    assert_eq!(
        find_set(&node, "Patient", json!({"PatientName": "*^J*"})).await,
        expected(&specs, "Patient", |s| s
            .patient_name
            .to_uppercase()
            .contains("^J"))
    );
    assert_eq!(
        find_set(&node, "Patient", json!({"PatientName": "*"})).await,
        all("Patient")
    );
    assert_eq!(
        find_set(&node, "Patient", json!({"PatientName": ""})).await,
        all("Patient")
    );
    // CaseSensitive applies to every tag, person names included.
    let request =
        json!({"Level": "Patient", "Query": {"PatientName": "smith^john"}, "CaseSensitive": true});
    assert!(find(&node, request).await.is_empty());
    let request =
        json!({"Level": "Patient", "Query": {"PatientName": "Smith^John"}, "CaseSensitive": true});
    assert_eq!(find(&node, request).await.len(), 1);
    let accession = specs[0].accession.to_lowercase();
    let by_accession = expected(&specs, "Study", |s| s.accession == specs[0].accession);
    assert_eq!(
        find_set(&node, "Study", json!({"AccessionNumber": accession})).await,
        by_accession
    );
    let request =
        json!({"Level": "Study", "Query": {"AccessionNumber": accession}, "CaseSensitive": true});
    assert!(find(&node, request).await.is_empty());
    let request = json!({"Level": "Study", "Query": {"AccessionNumber": specs[0].accession}, "CaseSensitive": true});
    assert_eq!(
        find(&node, request)
            .await
            .into_iter()
            .collect::<BTreeSet<_>>(),
        by_accession
    );
    // Lists.
    assert_eq!(
        find_set(&node, "Series", json!({"Modality": "CT\\MR"})).await,
        all("Series")
    );
    assert_eq!(
        find_set(&node, "Series", json!({"Modality": "mr"})).await,
        expected(&specs, "Series", |s| s.modality == "MR")
    );
    assert_eq!(
        find_set(
            &node,
            "Patient",
            json!({"PatientID": "PAT000001\\PAT000004"})
        )
        .await,
        expected(&specs, "Patient", |s| ["PAT000001", "PAT000004"]
            .contains(&s.patient_id.as_str()))
    );
    assert_eq!(
        find_set(&node, "Series", json!({"Modality": "C?"})).await,
        expected(&specs, "Series", |s| s.modality == "CT")
    );
}

#[tokio::test]
async fn date_ranges_and_lists() {
    let (node, specs) = loaded().await;
    let dates: BTreeSet<&str> = specs.iter().map(|s| s.study_date.as_str()).collect();
    let dates: Vec<&str> = dates.into_iter().collect();
    assert!(dates.len() >= 5, "the data set has varied dates: {dates:?}");
    let (a, b) = (dates[1], dates[dates.len() - 2]);
    let check = |q: String, pred: Box<dyn Fn(&str) -> bool>| {
        let want = expected(&specs, "Study", |s| pred(&s.study_date));
        let node = &node;
        async move {
            assert_eq!(
                find_set(node, "Study", json!({"StudyDate": q})).await,
                want,
                "StudyDate {q}"
            )
        }
    };
    let (a2, b2) = (a.to_owned(), b.to_owned());
    check(
        format!("{a}-{b}"),
        Box::new(move |d| d >= a2.as_str() && d <= b2.as_str()),
    )
    .await;
    let b2 = b.to_owned();
    check(format!("-{b}"), Box::new(move |d| d <= b2.as_str())).await;
    let a2 = a.to_owned();
    check(format!("{a}-"), Box::new(move |d| d >= a2.as_str())).await;
    let (a2, b2) = (a.to_owned(), b.to_owned());
    check(format!("{a}\\{b}"), Box::new(move |d| d == a2 || d == b2)).await;
    let a2 = a.to_owned();
    check(a.to_owned(), Box::new(move |d| d == a2)).await;
    // Dates are ranges at the patient level too, and dates of a parent level
    // constrain a child level.
    let birth = specs[0].birth_date.clone();
    assert_eq!(
        find_set(
            &node,
            "Series",
            json!({"PatientBirthDate": format!("-{birth}")})
        )
        .await,
        expected(&specs, "Series", |s| s.birth_date <= birth)
    );
    // Wildcards are refused on dates, numbers and UIDs (Orthanc: 400, status 3).
    for query in [
        json!({"StudyDate": "2024*"}),
        json!({"SeriesNumber": "1*"}),
        json!({"SOPInstanceUID": "2.25.*"}),
        json!({"Rows": "*"}),
    ] {
        let (status, error) = find_error(
            &node,
            &json!({"Level": "Instance", "Query": query}).to_string(),
        )
        .await;
        assert_eq!(status, 400, "{query}: {error}");
        assert_eq!(error["OrthancStatus"], 3);
        assert!(
            error["Details"]
                .as_str()
                .unwrap()
                .starts_with("Wildcards are not allowed on tag "),
            "{error}"
        );
    }
}

#[tokio::test]
async fn constraints_on_other_levels_and_other_tags() {
    let (node, specs) = loaded().await;
    // Upper levels constrain lower ones.
    assert_eq!(
        find_set(&node, "Series", json!({"PatientName": "smith*"})).await,
        expected(&specs, "Series", |s| s
            .patient_name
            .to_lowercase()
            .starts_with("smith"))
    );
    let study = &specs[5].study_uid;
    assert_eq!(
        find_set(
            &node,
            "Instance",
            json!({"StudyInstanceUID": study, "Modality": "MR"})
        )
        .await,
        expected(&specs, "Instance", |s| &s.study_uid == study
            && s.modality == "MR")
    );
    // ModalitiesInStudy on studies: any series of the study.
    let with_mr = studies_with(&specs, |m| m.contains("MR"));
    assert!(!with_mr.is_empty() && with_mr.len() < expected(&specs, "Study", |_| true).len());
    assert_eq!(
        find_set(&node, "Study", json!({"ModalitiesInStudy": "MR"})).await,
        with_mr
    );
    assert_eq!(
        find_set(&node, "Study", json!({"ModalitiesInStudy": "ct"})).await,
        studies_with(&specs, |m| m.contains("CT"))
    );
    assert_eq!(
        find_set(&node, "Study", json!({"ModalitiesInStudy": "CT\\MR"})).await,
        expected(&specs, "Study", |_| true)
    );
    // Orthanc 1.10 matches main tags of lower levels against the resource's
    // own tags: nothing matches, not even `*`; an empty value is universal.
    assert!(find_set(&node, "Study", json!({"Modality": "MR"}))
        .await
        .is_empty());
    assert!(find_set(&node, "Study", json!({"Modality": "*"}))
        .await
        .is_empty());
    assert!(
        find_set(&node, "Patient", json!({"StudyDate": specs[0].study_date}))
            .await
            .is_empty()
    );
    assert!(
        find_set(&node, "Series", json!({"ModalitiesInStudy": "MR"}))
            .await
            .is_empty()
    );
    assert_eq!(
        find_set(&node, "Study", json!({"Modality": ""})).await,
        expected(&specs, "Study", |_| true)
    );
    // Tags that are main tags of no level are read from a file.
    assert_eq!(
        find_set(&node, "Series", json!({"Rows": "8"})).await,
        expected(&specs, "Series", |s| s.rows == 8)
    );
    assert_eq!(
        find_set(&node, "Study", json!({"Rows": "4"})).await,
        expected(&specs, "Study", |s| s.rows == 4)
    );
    assert!(find_set(&node, "Instance", json!({"BitsStored": "8"}))
        .await
        .is_empty());
    assert_eq!(
        find_set(&node, "Instance", json!({"SamplesPerPixel": "1"})).await,
        expected(&specs, "Instance", |_| true)
    );
    assert_eq!(
        find_set(&node, "Series", json!({"Rows": "8", "Modality": "CT"})).await,
        expected(&specs, "Series", |s| s.rows == 8 && s.modality == "CT")
    );
    // Tags given by number.
    assert_eq!(
        find_set(&node, "Patient", json!({"0010,0020": "PAT000003"})).await,
        expected(&specs, "Patient", |s| s.patient_id == "PAT000003")
    );
}

#[tokio::test]
async fn expand_limit_since_and_errors() {
    let (node, specs) = loaded().await;
    let request = json!({"Level": "Study", "Query": {"PatientName": "smith*"}, "Expand": true});
    let (status, expanded) = node.post("/tools/find", request.to_string()).await;
    assert_eq!(status, 200);
    let expanded = expanded.as_array().unwrap();
    assert_eq!(expanded.len(), 4);
    for study in expanded {
        let (_, direct) = node
            .get(&format!("/studies/{}", study["ID"].as_str().unwrap()))
            .await;
        assert_eq!(study, &direct, "an expanded answer is GET /studies/{{id}}");
        assert!(study["PatientMainDicomTags"]["PatientName"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .starts_with("smith"));
    }

    // Paging: the pages put together are the whole answer, in its order.
    let everything = find(&node, json!({"Level": "Instance", "Query": {}})).await;
    assert_eq!(everything.len(), specs.len());
    let mut pages = Vec::new();
    for since in (0..everything.len()).step_by(7) {
        pages.extend(
            find(
                &node,
                json!({"Level": "Instance", "Query": {}, "Since": since, "Limit": 7}),
            )
            .await,
        );
    }
    assert_eq!(pages, everything);
    assert_eq!(
        find(
            &node,
            json!({"Level": "Instance", "Query": {}, "Since": 30})
        )
        .await,
        everything[30..]
    );
    assert_eq!(
        find(&node, json!({"Level": "Instance", "Query": {}, "Limit": 0})).await,
        everything,
        "Limit 0 is no limit"
    );
    assert!(find(
        &node,
        json!({"Level": "Instance", "Query": {}, "Since": 1000})
    )
    .await
    .is_empty());
    // Paging applies after the file-tag filter.
    let rows8 = find(&node, json!({"Level": "Instance", "Query": {"Rows": "8"}})).await;
    assert_eq!(rows8.len(), 8);
    assert_eq!(
        find(
            &node,
            json!({"Level": "Instance", "Query": {"Rows": "8"}, "Since": 2, "Limit": 3})
        )
        .await,
        rows8[2..5]
    );

    let (status, error) = find_error(&node, r#"{"Level": "Foo", "Query": {}}"#).await;
    assert_eq!(
        (status, &error["OrthancStatus"]),
        (400, &json!(3)),
        "{error}"
    );
    for body in ["not json", "[1]", ""] {
        let (status, error) = find_error(&node, body).await;
        assert_eq!(status, 400);
        assert_eq!(error["OrthancStatus"], 8);
        assert_eq!(error["Details"], "The body must contain a JSON object");
    }
    let (status, error) = find_error(&node, r#"{"Level": "Study"}"#).await;
    assert_eq!(
        (status, error["Details"].as_str()),
        (
            400,
            Some("Field \"Query\" is missing, or should be a JSON object")
        )
    );
    let (status, error) =
        find_error(&node, r#"{"Level": "Study", "Query": {"StudyDate": 5}}"#).await;
    assert_eq!(
        (status, error["Details"].as_str()),
        (
            400,
            Some("Tag \"StudyDate\" should be associated with a string")
        )
    );
    let (status, error) =
        find_error(&node, r#"{"Level": "Study", "Query": {}, "Limit": -1}"#).await;
    assert_eq!(
        (status, &error["OrthancStatus"]),
        (400, &json!(3)),
        "{error}"
    );
    let (status, error) =
        find_error(&node, r#"{"Level": "Study", "Query": {}, "Limit": "1"}"#).await;
    assert_eq!(
        (status, &error["OrthancStatus"]),
        (400, &json!(8)),
        "{error}"
    );
}

#[tokio::test]
async fn lookup_finds_each_level_by_its_identifier() {
    let (node, specs) = loaded().await;
    let s = &specs[9];
    for (needle, level, collection) in [
        (&s.patient_id, "Patient", "patients"),
        (&s.study_uid, "Study", "studies"),
        (&s.series_uid, "Series", "series"),
        (&s.sop_uid, "Instance", "instances"),
    ] {
        let (status, answer) = node.post("/tools/lookup", needle.clone()).await;
        assert_eq!(status, 200);
        let id = id_at(s, level);
        assert_eq!(
            answer,
            json!([{"ID": id, "Path": format!("/{collection}/{id}"), "Type": level}]),
            "lookup {needle}"
        );
    }
    let (status, answer) = node.post("/tools/lookup", "no-such-uid").await;
    assert_eq!((status, answer), (200, json!([])));
}
