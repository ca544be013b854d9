//! Modification of stored resources with Orthanc 1.10's rules: the request
//! (`Replace`, `Remove`, `Keep`, `RemovePrivateTags`, `Force`, `KeepSource`,
//! `PrivateCreator`) parsed as `DicomModification::ParseModifyRequest` does,
//! the level checks of its `Apply`, then [`crate::dicom::modify`] on each file.
//!
//! - one instance, answered and not stored (`POST /instances/{id}/modify`);
//! - a series, study or patient: every instance modified and stored under its
//!   new UIDs with the metadata `ModifiedFrom` (on the new instance, and on each
//!   new series, study, patient whose ID changed), synchronously; an error
//!   part-way deletes the copies already stored, so nothing is half-written;
//! - one instance for Lua's `ModifyInstance`, stored with origin `Lua`.
//!
//! Every request is checked before any file is touched.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{Archive, Origin, Result, ServiceError};
use crate::dicom::dictionary;
use crate::dicom::model::Tag;
use crate::dicom::modify::{
    self, Modification, NewValue, RewriteError, UidMap, PATIENT_ID, SERIES_INSTANCE_UID,
    SOP_INSTANCE_UID, STUDY_INSTANCE_UID,
};
use crate::index::{Level, StoreStatus};

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

/// A checked request.
#[derive(Debug, Clone)]
pub struct ModifyRequest {
    pub modification: Modification,
    /// `KeepSource` (default true): false deletes the original resource after.
    pub keep_source: bool,
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
        .ok_or_else(|| ModifyError::UnknownTag(name.to_owned()))
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

fn boolean(
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

/// The tags of `Remove` or `Keep`, with the `Force` rule.
fn list_of_tags(
    value: &Value,
    force: bool,
    verb: &str,
) -> std::result::Result<Vec<Tag>, ModifyError> {
    let items = value.as_array().ok_or(ModifyError::BadRequest(None))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let name = item.as_str().ok_or(ModifyError::BadRequest(None))?;
        let tag = parse_tag(name)?;
        if !force && is_identifier(tag) {
            return Err(bad(format!("Marking tag \"{name}\" as to be {verb} requires the \"Force\" option to be set to true")));
        }
        out.push(tag);
    }
    Ok(out)
}

impl ModifyRequest {
    /// Parses a request for a resource at `level`. A modification of one
    /// instance over REST (`raise_level`) acts at the level of the highest
    /// identifier it replaces, as Orthanc's.
    pub fn parse(
        body: &Value,
        level: Level,
        raise_level: bool,
    ) -> std::result::Result<ModifyRequest, ModifyError> {
        let body = body.as_object().ok_or(ModifyError::BadBody(None))?;
        if boolean(body, "Asynchronous", false)? || !boolean(body, "Synchronous", true)? {
            return Err(ModifyError::Asynchronous);
        }
        if body.contains_key("Transcode") {
            return Err(ModifyError::Unsupported("Transcode"));
        }
        let force = boolean(body, "Force", false)?;
        let keep_source = boolean(body, "KeepSource", true)?;
        let mut m = Modification::new(level);
        m.remove_private_tags = boolean(body, "RemovePrivateTags", false)?;
        if let Some(remove) = body.get("Remove") {
            m.remove.extend(list_of_tags(remove, force, "removed")?);
        }
        if let Some(replace) = body.get("Replace") {
            let members = replace.as_object().ok_or(ModifyError::BadRequest(None))?;
            for (name, value) in members {
                let tag = parse_tag(name)?;
                if !force && is_identifier(tag) {
                    return Err(bad(format!(
                        "Marking tag \"{name}\" as to be replaced requires the \"Force\" option to be set to true"
                    )));
                }
                if tag.0 == 0x0002 || tag.1 == 0x0000 {
                    return Err(bad(format!("the tag {name} ({}) cannot be modified: meta header and group lengths are written by Isengard", tag.format_comma())));
                }
                m.remove.remove(&tag);
                m.replace.insert(tag, new_value(tag, value)?);
            }
        }
        if let Some(keep) = body.get("Keep") {
            for tag in list_of_tags(keep, force, "kept")? {
                m.remove.remove(&tag);
                m.replace.remove(&tag);
                m.keep.insert(tag);
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
        })
    }
}

/// The checks of Orthanc's `DicomModification::Apply`, made before any file is read.
fn check_levels(m: &Modification) -> std::result::Result<(), ModifyError> {
    if m.remove.iter().any(|t| is_identifier(*t)) {
        return Err(bad(
            "PatientID, StudyInstanceUID, SeriesInstanceUID and SOPInstanceUID cannot be removed",
        ));
    }
    let replaced = |t: Tag| m.replace.contains_key(&t);
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

impl Archive {
    /// The modified file of one instance, not stored (`POST /instances/{id}/modify`).
    pub async fn modified_instance(&self, id: &str, request: &ModifyRequest) -> Result<Vec<u8>> {
        let file = self.instance_file(id).await?;
        Ok(modify::apply(
            &file,
            &request.modification,
            &mut UidMap::default(),
        )?)
    }

    /// Lua's `ModifyInstance`: stores the modified copy of one instance
    /// (origin `Lua`, `ModifiedFrom`) and answers its ID.
    pub async fn store_modified_instance(
        &self,
        id: &str,
        request: &ModifyRequest,
        origin: &Origin,
    ) -> Result<String> {
        self.resource_at(Level::Instance, id)?;
        let mut uids = UidMap::default();
        let ids = self
            .store_modified(id, request, &mut uids, origin, &mut HashSet::new())
            .await?;
        Ok(ids.instance)
    }

    /// `POST /{series|studies|patients}/{id}/modify`: every instance below `id`
    /// modified and stored; an error deletes the copies already stored.
    pub async fn modify_resource(
        &self,
        level: Level,
        id: &str,
        request: &ModifyRequest,
        origin: &Origin,
    ) -> Result<ModifyOutcome> {
        self.resource_at(level, id)?;
        let instances = self.descendants(id, Level::Instance)?;
        let mut uids = UidMap::default();
        let mut parents_done = HashSet::new();
        let mut created = Vec::new();
        let mut outcome = None;
        for instance in &instances {
            match self
                .store_modified(instance, request, &mut uids, origin, &mut parents_done)
                .await
            {
                Ok(ids) => {
                    created.push(ids.instance.clone());
                    let new_id = match level {
                        Level::Patient => ids.patient.clone(),
                        Level::Study => ids.study.clone(),
                        Level::Series => ids.series.clone(),
                        Level::Instance => ids.instance.clone(),
                    };
                    outcome.get_or_insert(ModifyOutcome {
                        level,
                        id: new_id,
                        patient_id: ids.patient,
                        instances: 0,
                    });
                }
                Err(e) => {
                    self.roll_back(&created).await;
                    return Err(e);
                }
            }
        }
        if !request.keep_source {
            self.delete(level, id).await?;
        }
        let mut outcome = outcome.ok_or_else(|| ServiceError::UnknownResource(id.to_owned()))?;
        outcome.instances = instances.len();
        Ok(outcome)
    }

    /// Modifies and stores one instance with `ModifiedFrom`; sets
    /// `ModifiedFrom` on its new parents once (`parents_done`). Answers the
    /// new IDs.
    async fn store_modified(
        &self,
        id: &str,
        request: &ModifyRequest,
        uids: &mut UidMap,
        origin: &Origin,
        parents_done: &mut HashSet<String>,
    ) -> Result<crate::dicom::ResourceIds> {
        let file = self.instance_file(id).await?;
        let modified = modify::apply(&file, &request.modification, uids)?;
        let metadata = BTreeMap::from([("ModifiedFrom".to_owned(), id.to_owned())]);
        let stored = self
            .ingest_with_metadata(Bytes::from(modified), origin, metadata)
            .await?;
        if stored.status == StoreStatus::AlreadyStored {
            return Err(ServiceError::Modify(ModifyError::AlreadyStored(
                id.to_owned(),
            )));
        }
        let new = &stored.ids;
        for (level, new_id) in [
            (Level::Series, &new.series),
            (Level::Study, &new.study),
            (Level::Patient, &new.patient),
        ] {
            let old = self.ancestor(id, level)?.id;
            if old != *new_id && parents_done.insert(new_id.clone()) {
                self.set_metadata(level, new_id, "ModifiedFrom", &old)
                    .await?;
            }
        }
        Ok(stored.ids)
    }

    /// Deletes the modified copies stored before an error (best effort: a
    /// failure is logged, the original error is what the caller sees).
    async fn roll_back(&self, created: &[String]) {
        for id in created {
            if let Err(e) = self.delete(Level::Instance, id).await {
                tracing::error!(instance = %id, error = %e, "cannot delete a modified copy after a failed modification");
            }
        }
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
