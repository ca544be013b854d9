//! The planner under both protocols' rules.

use super::*;

#[test]
fn levels_parse() {
    assert_eq!(parse_level("STUDY "), Some(Level::Study));
    assert_eq!(parse_level("IMAGE"), Some(Level::Instance));
    assert_eq!(parse_level("WORKLIST"), None);
    assert_eq!(
        main_tag(Tag(0x0010, 0x0010)),
        Some((Level::Patient, "PatientName"))
    );
    assert_eq!(
        main_tag(Tag(0x0020, 0x0037)).map(|m| m.0),
        Some(Level::Series)
    );
}

fn rest(level: Level, case_sensitive: bool, keys: &[(&str, &str)]) -> Result<Plan, FindError> {
    let mut request = FindRequest::rest(level, case_sensitive);
    for (key, value) in keys {
        request.add(FindKey::named(key)?, *value)?;
    }
    Ok(request.plan())
}

fn dicom(level: Level, case_sensitive_pn: bool, keys: &[(Tag, &str, &str)]) -> Plan {
    let mut request = FindRequest::rest(level, false);
    request.rules = FindRules::dicom(case_sensitive_pn);
    request.answer_keys = true;
    for (tag, vr, value) in keys {
        request.add(FindKey::element(*tag, vr), *value).unwrap();
    }
    request.plan()
}

const PATIENT_NAME: Tag = Tag(0x0010, 0x0010);
const MODALITY: Tag = Tag(0x0008, 0x0060);
const SOP_INSTANCE_UID: Tag = Tag(0x0008, 0x0018);
const PATIENT_WEIGHT: Tag = Tag(0x0010, 0x1030);

#[test]
fn rest_keys_by_name_or_tag_and_wildcards_on_text_vrs_only() {
    assert!(matches!(
        rest(Level::Study, false, &[("NoSuchTag", "x")]),
        Err(FindError::UnknownTag(k)) if k == "NoSuchTag"
    ));
    let plan = rest(Level::Study, true, &[("0010,0010", "DOE*")]).unwrap();
    assert_eq!(plan.indexed.len(), 1);
    assert_eq!(plan.indexed[0].tag, "PatientName");
    assert!(plan.indexed[0].case_sensitive);
    assert!(matches!(
        rest(Level::Study, false, &[("StudyDate", "2020*")]),
        Err(FindError::WildcardsNotAllowed(t)) if t == "0008,0020"
    ));
    // C-FIND takes the value as it comes.
    let plan = dicom(Level::Study, false, &[(Tag(0x0008, 0x0020), "DA", "2020*")]);
    assert_eq!(plan.indexed.len(), 1);
}

#[test]
fn lower_levels_match_nothing_on_rest_and_are_ignored_by_c_find() {
    let plan = rest(Level::Study, false, &[("Modality", "CT")]).unwrap();
    assert!(plan.impossible);
    let plan = rest(Level::Series, false, &[("ModalitiesInStudy", "*")]).unwrap();
    assert!(plan.impossible);
    // An empty value constrains nothing.
    let plan = rest(Level::Study, false, &[("Modality", "")]).unwrap();
    assert!(!plan.impossible && plan.indexed.is_empty());
    let plan = dicom(Level::Study, false, &[(MODALITY, "CS", "CT")]);
    assert!(!plan.impossible && plan.indexed.is_empty() && plan.from_file.is_empty());
    // On studies, ModalitiesInStudy is the series' Modality, case-sensitive for C-FIND.
    let plan = dicom(Level::Study, false, &[(MODALITIES_IN_STUDY, "CS", "ct")]);
    assert_eq!(plan.indexed[0].level, Level::Series);
    assert_eq!(plan.indexed[0].tag, "Modality");
    assert!(plan.indexed[0].case_sensitive);
    let plan = rest(Level::Study, false, &[("ModalitiesInStudy", "ct")]).unwrap();
    assert!(!plan.indexed[0].case_sensitive);
}

#[test]
fn case_sensitivity_is_per_tag_for_c_find_and_global_for_rest() {
    let keys = [(PATIENT_NAME, "PN", "doe"), (SOP_INSTANCE_UID, "UI", "1.2")];
    let plan = dicom(Level::Instance, false, &keys);
    let sensitive: Vec<bool> = plan.indexed.iter().map(|q| q.case_sensitive).collect();
    assert_eq!(sensitive, [false, true]);
    let plan = dicom(Level::Instance, true, &keys);
    assert!(plan.indexed.iter().all(|q| q.case_sensitive));
    let plan = rest(
        Level::Instance,
        false,
        &[("PatientName", "doe"), ("SOPInstanceUID", "1.2")],
    )
    .unwrap();
    assert!(plan.indexed.iter().all(|q| !q.case_sensitive));
}

#[test]
fn other_keys_are_read_from_the_file() {
    // REST: only constrained ones; C-FIND: every one (they are answered),
    // a PN as CaseSensitivePN says, as on the index; computed keys never.
    let plan = rest(
        Level::Study,
        true,
        &[("PatientWeight", "70"), ("PatientComments", "")],
    )
    .unwrap();
    assert_eq!(plan.from_file.len(), 1);
    assert!(plan.from_file[0].case_sensitive);
    let plan = rest(
        Level::Study,
        false,
        &[("NumberOfStudyRelatedInstances", "1")],
    )
    .unwrap();
    assert_eq!(plan.from_file.len(), 1);
    let plan = dicom(
        Level::Study,
        true,
        &[
            (PATIENT_WEIGHT, "DS", ""),
            (Tag(0x0010, 0x1001), "PN", "x"),
            (Tag(0x0020, 0x1208), "IS", "1"),
            (SOP_CLASSES_IN_STUDY, "UI", ""),
        ],
    );
    let keys: Vec<(usize, bool)> = plan
        .from_file
        .iter()
        .map(|k| (k.key, k.case_sensitive))
        .collect();
    assert_eq!(keys, [(0, true), (1, true)]);
    assert_eq!(plan.from_file[0].constraint, Constraint::Any);
    let plan = dicom(Level::Study, false, &[(Tag(0x0010, 0x1001), "PN", "x")]);
    assert!(!plan.from_file[0].case_sensitive);
}

#[test]
fn c_find_refuses_wildcards_where_dicom_does_not_allow_them() {
    let mut request = FindRequest::rest(Level::Series, false);
    request.rules = FindRules::dicom(false);
    request.rules.wildcards = super::Wildcards::TextVrsOnly;
    let uid = FindKey::element(Tag(0x0020, 0x000d), "UI");
    assert!(matches!(
        request.add(uid, "*"),
        Err(FindError::WildcardsNotAllowed(t)) if t == "0020,000d"
    ));
    request
        .add(FindKey::element(Tag(0x0010, 0x0040), "CS"), "*")
        .unwrap();
}
