//! Modification and anonymization requests with Orthanc 1.10's rules: the
//! body (`Replace`, `Remove`, `Keep`, `RemovePrivateTags`, `Force`,
//! `KeepSource`, `PrivateCreator`; for anonymizations `DicomVersion` and
//! `KeepPrivateTags`) parsed as `DicomModification::ParseModifyRequest` and
//! `ParseAnonymizationRequest` do, into one [`Modification`] for the rewrite
//! engine [`crate::dicom::modify`], with the level checks of its `Apply`.
//! Tags may be paths into sequences (`Seq[0].Tag`, `Seq[*].Tag`).
//!
//! Every request is checked here, before any file is touched; running it is
//! `service::modify_run`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ServiceError;
use crate::dicom::dictionary;
use crate::dicom::model::Tag;
use crate::dicom::modify::profiles::{self, Action};
use crate::dicom::modify::{
    Modification, NewValue, Path, PathError, RewriteError, PATIENT_ID, SERIES_INSTANCE_UID,
    SOP_INSTANCE_UID, STUDY_INSTANCE_UID,
};
use crate::index::Level;

/// The Orthanc version whose name anonymizations write in DeidentificationMethod
/// (the one `GET /system` reports).
const ORTHANC_VERSION: &str = "1.10.1";
const PATIENT_NAME: Tag = Tag(0x0010, 0x0010);
const PATIENT_IDENTITY_REMOVED: Tag = Tag(0x0012, 0x0062);
const DEIDENTIFICATION_METHOD: Tag = Tag(0x0012, 0x0063);

/// Why a modification was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ModifyError {
    /// The body is not a JSON object, or a member has the wrong type
    /// (Orthanc: "Bad file format").
    #[error("{}", .0.as_deref().unwrap_or("the body must be a JSON object"))]
    BadBody(Option<String>),
    /// Orthanc's "Bad request" (the `Force` rules, the level rules...).
    #[error("{}", .0.as_deref().unwrap_or("bad modification request"))]
    BadRequest(Option<String>),
    /// Orthanc's "Parameter out of range" (a path's syntax, a `DicomVersion`...).
    #[error("{0}")]
    OutOfRange(String),
    #[error("unknown DICOM tag: {0}")]
    UnknownTag(String),
    #[error("Isengard has no jobs: only synchronous modifications are available (remove \"Asynchronous\": true / \"Synchronous\": false)")]
    Asynchronous,
    #[error("the option \"{0}\" of Orthanc's modifications is not supported by Isengard")]
    Unsupported(&'static str),
    /// The modified instance has the IDs of an instance already stored.
    #[error(
        "the modified copy of instance {0} has the same identifiers as an instance already stored"
    )]
    AlreadyStored(String),
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
}

impl From<RewriteError> for ServiceError {
    fn from(e: RewriteError) -> Self {
        ServiceError::Modify(e.into())
    }
}

impl From<PathError> for ModifyError {
    fn from(e: PathError) -> Self {
        match e {
            PathError::Syntax(s) => ModifyError::OutOfRange(s),
            PathError::UnknownTag(t) => ModifyError::UnknownTag(t),
        }
    }
}

/// A checked request.
#[derive(Debug, Clone)]
pub struct ModifyRequest {
    pub modification: Modification,
    /// `KeepSource` (default true): false deletes the original resources after.
    pub keep_source: bool,
    /// An anonymization without its own PatientName: the use case gives it
    /// Orthanc's `AnonymizedN` (a cluster-wide sequence) before running it.
    pub needs_patient_name: bool,
}

/// What `POST /{level}/{id}/modify` answers (besides its constants).
#[derive(Debug, Clone, PartialEq)]
pub struct ModifyOutcome {
    pub level: Level,
    /// The new resource at `level`.
    pub id: String,
    pub patient_id: String,
    pub instances: usize,
}

fn bad(details: impl Into<String>) -> ModifyError {
    ModifyError::BadRequest(Some(details.into()))
}

/// Orthanc's `ParseTag`: `gggg,eeee`, `gggg-eeee`, `ggggeeee` or a name of the dictionary.
pub fn parse_tag(name: &str) -> std::result::Result<Tag, ModifyError> {
    tag_of(name).ok_or_else(|| ModifyError::UnknownTag(name.to_owned()))
}

fn tag_of(name: &str) -> Option<Tag> {
    let hex8 = || -> Option<Tag> {
        if name.len() != 8 || !name.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        Some(Tag(
            u16::from_str_radix(&name[..4], 16).ok()?,
            u16::from_str_radix(&name[4..], 16).ok()?,
        ))
    };
    Tag::parse(name)
        .or_else(hex8)
        .or_else(|| dictionary::find_by_name(name))
}

/// A tag or a path into sequences (Orthanc's `DicomPath::Parse`).
pub fn parse_path(name: &str) -> std::result::Result<Path, ModifyError> {
    Ok(Path::parse(name, tag_of)?)
}

fn is_identifier(tag: Tag) -> bool {
    [
        PATIENT_ID,
        STUDY_INSTANCE_UID,
        SERIES_INSTANCE_UID,
        SOP_INSTANCE_UID,
    ]
    .contains(&tag)
}

pub(super) fn boolean(
    body: &Map<String, Value>,
    key: &str,
    default: bool,
) -> std::result::Result<bool, ModifyError> {
    match body.get(key) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ModifyError::BadBody(Some(format!(
            "Member \"{key}\" should be a Boolean value"
        )))),
    }
}

/// Refuses what needs jobs or transcoding, which Isengard does not have.
pub(super) fn synchronous_only(body: &Map<String, Value>) -> std::result::Result<(), ModifyError> {
    if boolean(body, "Asynchronous", false)? || !boolean(body, "Synchronous", true)? {
        return Err(ModifyError::Asynchronous);
    }
    if body.contains_key("Transcode") {
        return Err(ModifyError::Unsupported("Transcode"));
    }
    Ok(())
}

fn new_value(tag: Tag, value: &Value) -> std::result::Result<NewValue, ModifyError> {
    match value {
        Value::String(s) => Ok(NewValue::Text(s.clone())),
        Value::Null => Ok(NewValue::Text(String::new())),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Object(members) => {
                        let mut replacements = BTreeMap::new();
                        for (name, v) in members {
                            let t = parse_tag(name)?;
                            replacements.insert(t, new_value(t, v)?);
                        }
                        out.push(replacements);
                    }
                    // Lua cannot tell an empty table from an empty array.
                    Value::Array(a) if a.is_empty() => out.push(BTreeMap::new()),
                    _ => return Err(RewriteError::BadType(tag).into()),
                }
            }
            Ok(NewValue::Sequence(out))
        }
        _ => Err(RewriteError::BadType(tag).into()),
    }
}

/// The paths of `Remove` or `Keep`, with the `Force` rule.
fn list_of_paths(
    value: &Value,
    force: bool,
    verb: &str,
) -> std::result::Result<Vec<Path>, ModifyError> {
    let items = value.as_array().ok_or(ModifyError::BadRequest(None))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let name = item.as_str().ok_or(ModifyError::BadRequest(None))?;
        let path = parse_path(name)?;
        if path.prefix.is_empty() && !force && is_identifier(path.tag) {
            return Err(bad(format!("Marking tag \"{name}\" as to be {verb} requires the \"Force\" option to be set to true")));
        }
        out.push(path);
    }
    Ok(out)
}

/// `Remove`, `Replace` and `Keep`, in Orthanc's order (the last one applied
/// to a tag wins); answers whether any entry was given (an anonymization
/// made so is no longer Orthanc's profile).
fn apply_lists(
    body: &Map<String, Value>,
    force: bool,
    m: &mut Modification,
) -> std::result::Result<bool, ModifyError> {
    let mut customized = false;
    if let Some(remove) = body.get("Remove") {
        for path in list_of_paths(remove, force, "removed")? {
            customized = true;
            if !path.prefix.is_empty() {
                m.remove_paths.push(path);
                continue;
            }
            let tag = path.tag;
            m.remove.insert(tag);
            m.clear.remove(&tag);
            m.uids.remove(&tag);
            m.replace.remove(&tag);
            m.keep.remove(&tag);
        }
    }
    if let Some(replace) = body.get("Replace") {
        let members = replace.as_object().ok_or(ModifyError::BadRequest(None))?;
        for (name, value) in members {
            customized = true;
            let path = parse_path(name)?;
            if path.prefix.is_empty() && !force && is_identifier(path.tag) {
                return Err(bad(format!(
                    "Marking tag \"{name}\" as to be replaced requires the \"Force\" option to be set to true"
                )));
            }
            let tag = path.tag;
            if tag.0 == 0x0002 || tag.1 == 0x0000 {
                return Err(bad(format!("the tag {name} ({}) cannot be modified: meta header and group lengths are written by Isengard", tag.format_comma())));
            }
            let value = new_value(tag, value)?;
            if !path.prefix.is_empty() {
                m.replace_paths.push((path, value));
                continue;
            }
            m.remove.remove(&tag);
            m.clear.remove(&tag);
            m.uids.remove(&tag);
            m.keep.remove(&tag);
            m.replace.insert(tag, value);
        }
    }
    if let Some(keep) = body.get("Keep") {
        for path in list_of_paths(keep, force, "kept")? {
            customized = true;
            if path.prefix.is_empty() {
                let tag = path.tag;
                m.remove.remove(&tag);
                m.clear.remove(&tag);
                m.uids.remove(&tag);
                m.replace.remove(&tag);
                m.keep.insert(tag);
            }
            m.keep_paths.push(path);
        }
    }
    match body.get("PrivateCreator") {
        None => {}
        Some(Value::String(s)) => m.private_creator = s.clone(),
        Some(_) => {
            return Err(ModifyError::BadBody(Some(
                "Member \"PrivateCreator\" should be a string".into(),
            )))
        }
    }
    Ok(customized)
}

/// The DeidentificationMethod Orthanc writes for a profile.
fn deidentification_method(version: &str) -> String {
    let profile = match version {
        "2008" => "PS 3.15-2008 Table E.1-1",
        "2017c" => "PS 3.15-2017c Table E.1-1 Basic Profile",
        _ => "PS 3.15-2021b Table E.1-1 Basic Profile",
    };
    format!("Orthanc {ORTHANC_VERSION} - {profile}")
}

impl ModifyRequest {
    /// Parses a modification of a resource at `level`. A modification of
    /// one instance (`raise_level`: over REST, and `/tools/bulk-modify`
    /// without `Level`) acts at the level of the highest identifier it
    /// replaces, as Orthanc's.
    pub fn parse(
        body: &Value,
        level: Level,
        raise_level: bool,
    ) -> std::result::Result<ModifyRequest, ModifyError> {
        let body = body.as_object().ok_or(ModifyError::BadBody(None))?;
        synchronous_only(body)?;
        let force = boolean(body, "Force", false)?;
        let keep_source = boolean(body, "KeepSource", true)?;
        let mut m = Modification::new(level);
        m.remove_private_tags = boolean(body, "RemovePrivateTags", false)?;
        apply_lists(body, force, &mut m)?;
        if raise_level {
            m.level = if m.replace.contains_key(&PATIENT_ID) {
                Level::Patient
            } else if m.replace.contains_key(&STUDY_INSTANCE_UID) {
                Level::Study
            } else if m.replace.contains_key(&SERIES_INSTANCE_UID) {
                Level::Series
            } else {
                Level::Instance
            };
        }
        check_levels(&m)?;
        Ok(ModifyRequest {
            modification: m,
            keep_source,
            needs_patient_name: false,
        })
    }

    /// Parses an anonymization (of any resource: Orthanc anonymizes at the
    /// patient level, so every identifier is new), with the profile of
    /// `DicomVersion` (default 2021b).
    pub fn parse_anonymization(body: &Value) -> std::result::Result<ModifyRequest, ModifyError> {
        let body = body.as_object().ok_or(ModifyError::BadBody(None))?;
        synchronous_only(body)?;
        let force = boolean(body, "Force", false)?;
        let keep_source = boolean(body, "KeepSource", true)?;
        let version = match body.get("DicomVersion") {
            None => "2021b",
            Some(Value::String(v)) => match v.as_str() {
                "2008" | "2017c" | "2021b" => v.as_str(),
                _ => {
                    return Err(ModifyError::OutOfRange(format!(
                        "Unknown specific version of DICOM: {v}"
                    )))
                }
            },
            Some(_) => return Err(ModifyError::BadBody(None)),
        };
        let mut m = Modification::new(Level::Patient);
        m.anonymization = true;
        m.remove_private_tags = true;
        let rows = match version {
            "2008" => profiles::PS315_2008,
            "2017c" => profiles::PS315_2017C,
            _ => profiles::PS315_2021B,
        };
        for &(action, group, element) in rows {
            let tag = Tag(group, element);
            match action {
                Action::X => m.remove.insert(tag),
                Action::Z => m.clear.insert(tag),
                Action::U => m.uids.insert(tag),
            };
        }
        if version != "2008" {
            m.removed_ranges = profiles::REMOVED_RANGES.to_vec();
        }
        let method = deidentification_method(version);
        m.replace
            .insert(DEIDENTIFICATION_METHOD, NewValue::Text(method.clone()));
        m.replace
            .insert(PATIENT_IDENTITY_REMOVED, NewValue::Text("YES".into()));
        m.uids.insert(PATIENT_ID);
        m.uids.insert(PATIENT_NAME);
        let mut customized = false;
        if boolean(body, "KeepPrivateTags", false)? {
            m.remove_private_tags = false;
            customized = true;
        }
        customized |= apply_lists(body, force, &mut m)?;
        if customized && m.replace.get(&DEIDENTIFICATION_METHOD) == Some(&NewValue::Text(method)) {
            m.replace.remove(&DEIDENTIFICATION_METHOD);
        }
        let needs_patient_name = m.uids.contains(&PATIENT_NAME);
        check_levels(&m)?;
        Ok(ModifyRequest {
            modification: m,
            keep_source,
            needs_patient_name,
        })
    }

    /// Gives an anonymization its generated PatientName.
    pub fn set_patient_name(&mut self, name: String) {
        self.modification.uids.remove(&PATIENT_NAME);
        self.modification
            .replace
            .insert(PATIENT_NAME, NewValue::Text(name));
        self.needs_patient_name = false;
    }
}

/// The checks of Orthanc's `DicomModification::Apply`, made before any file is read.
fn check_levels(m: &Modification) -> std::result::Result<(), ModifyError> {
    if m.remove.iter().any(|t| is_identifier(*t)) {
        return Err(bad(
            "PatientID, StudyInstanceUID, SeriesInstanceUID and SOPInstanceUID cannot be removed",
        ));
    }
    let replaced = |t: Tag| m.replace.contains_key(&t) || (t == PATIENT_ID && m.uids.contains(&t));
    let (what, parents): (&str, &[(Tag, &str)]) = match m.level {
        Level::Patient if !replaced(PATIENT_ID) => {
            return Err(bad(
                "When modifying a patient, her PatientID is required to be modified",
            ));
        }
        Level::Patient => return Ok(()),
        Level::Study => ("a study", &[(PATIENT_ID, "PatientID")]),
        Level::Series => (
            "a series",
            &[
                (PATIENT_ID, "PatientID"),
                (STUDY_INSTANCE_UID, "StudyInstanceUID"),
            ],
        ),
        Level::Instance => (
            "an instance",
            &[
                (PATIENT_ID, "PatientID"),
                (STUDY_INSTANCE_UID, "StudyInstanceUID"),
                (SERIES_INSTANCE_UID, "SeriesInstanceUID"),
            ],
        ),
    };
    match parents.iter().find(|(t, _)| replaced(*t)) {
        Some((_, name)) => Err(bad(format!(
            "When modifying {what}, the parent {name} cannot be manually modified"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value, level: Level) -> std::result::Result<ModifyRequest, ModifyError> {
        ModifyRequest::parse(&body, level, level == Level::Instance)
    }

    #[test]
    fn orthanc_rules() {
        let r = parse(json!({"Replace": {"PatientName": "A", "0008,0080": "B"}, "Remove": ["StationName", "PatientName"]}), Level::Series).unwrap();
        assert_eq!(r.modification.replace.len(), 2);
        assert_eq!(
            r.modification.remove.iter().copied().collect::<Vec<_>>(),
            vec![Tag(0x0008, 0x1010)],
            "Replace wins over Remove"
        );
        assert!(r.keep_source);
        let e = parse(json!({"Replace": {"PatientID": "X"}}), Level::Instance).unwrap_err();
        assert_eq!(e.to_string(), "Marking tag \"PatientID\" as to be replaced requires the \"Force\" option to be set to true");
        assert!(
            matches!(parse(json!({"Remove": ["Foo"]}), Level::Series), Err(ModifyError::UnknownTag(t)) if t == "Foo")
        );
        assert!(matches!(
            parse(json!({"Replace": {"patientname": "x"}}), Level::Series),
            Err(ModifyError::UnknownTag(_))
        ));
        assert!(matches!(
            parse(json!({"Replace": {"PatientName": 3}}), Level::Series),
            Err(ModifyError::Rewrite(RewriteError::BadType(_)))
        ));
        assert!(matches!(
            parse(json!([]), Level::Series),
            Err(ModifyError::BadBody(None))
        ));
        assert!(matches!(
            parse(json!({"Replace": []}), Level::Series),
            Err(ModifyError::BadRequest(None))
        ));
        assert!(matches!(
            parse(json!({"Force": "yes"}), Level::Series),
            Err(ModifyError::BadBody(Some(_)))
        ));
        assert!(matches!(
            parse(json!({"Asynchronous": true}), Level::Series),
            Err(ModifyError::Asynchronous)
        ));
        assert!(matches!(
            parse(json!({"Synchronous": false}), Level::Series),
            Err(ModifyError::Asynchronous)
        ));
        let e = parse(json!({"Replace": {"PatientName": "x"}}), Level::Patient).unwrap_err();
        assert_eq!(
            e.to_string(),
            "When modifying a patient, her PatientID is required to be modified"
        );
        let e = parse(
            json!({"Replace": {"StudyInstanceUID": "1.2"}, "Force": true}),
            Level::Series,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "When modifying a series, the parent StudyInstanceUID cannot be manually modified"
        );
        let r = parse(
            json!({"Replace": {"StudyInstanceUID": "1.2"}, "Force": true}),
            Level::Instance,
        )
        .unwrap();
        assert_eq!(
            r.modification.level,
            Level::Study,
            "an instance modification is raised to the replaced identifier"
        );
        assert!(parse(
            json!({"Remove": ["PatientID"], "Force": true}),
            Level::Instance
        )
        .is_err());
        let r = parse(json!({"Keep": ["SOPInstanceUID"], "Replace": {"SOPInstanceUID": "1"}, "Force": true, "KeepSource": false}), Level::Series).unwrap();
        assert!(
            r.modification.replace.is_empty()
                && r.modification.keep.contains(&SOP_INSTANCE_UID)
                && !r.keep_source
        );
        assert_eq!(parse_tag("00100010").unwrap(), Tag(0x0010, 0x0010));
        assert_eq!(parse_tag("0010-0010").unwrap(), Tag(0x0010, 0x0010));
        let seq = parse(json!({"Replace": {"ReferencedImageSequence": [{"ReferencedSOPInstanceUID": "1.2"}, []]}}), Level::Series).unwrap();
        assert!(
            matches!(&seq.modification.replace[&Tag(0x0008, 0x1140)], NewValue::Sequence(items) if items.len() == 2)
        );
    }
}
