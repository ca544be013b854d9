//! `POST /studies/{id}/split` and `/studies/{id}/merge`, as Orthanc 1.10's
//! `SplitStudyJob` and `MergeStudyJob` run synchronously, through the one
//! rewrite engine ([`crate::dicom::modify`]):
//!
//! - split: the chosen series and instances of a study are copied into one
//!   new study (a new StudyInstanceUID, a new SeriesInstanceUID per source
//!   series, new SOPInstanceUIDs), with `Replace`/`Remove` limited to the tags
//!   of the patient and study modules;
//! - merge: the chosen studies, series and instances are copied into the
//!   target study, taking the patient and study module tags of one of its
//!   instances (absent there, removed), with new series and instance UIDs.
//!
//! `KeepSource` defaults to false: the sources are deleted afterwards. An
//! error part-way deletes the copies already stored.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value};

use super::modify::{boolean, parse_tag, synchronous_only, ModifyError};
use super::{Archive, Origin, Result, ServiceError};
use crate::dicom::model::Tag;
use crate::dicom::modify::{self, Modification, NewValue, UidMap, STUDY_INSTANCE_UID};
use crate::dicom::{self as dicom_crate};
use crate::index::Level;

/// Orthanc's `DicomModule_Patient` and `DicomModule_Study` (DICOM PS3.3 2011,
/// tables C.7-1 and C.7-3, with the Issuer of Patient ID macro).
#[rustfmt::skip]
const PATIENT_STUDY_MODULES: &[(u16, u16)] = &[
    (0x0010, 0x0010), (0x0010, 0x0020), (0x0010, 0x0030), (0x0010, 0x0040),
    (0x0008, 0x1120), (0x0010, 0x0032), (0x0010, 0x1000), (0x0010, 0x1002),
    (0x0010, 0x1001), (0x0010, 0x2160), (0x0010, 0x4000), (0x0010, 0x2201),
    (0x0010, 0x2202), (0x0010, 0x2292), (0x0010, 0x2293), (0x0010, 0x2294),
    (0x0010, 0x2297), (0x0010, 0x2298), (0x0010, 0x2299), (0x0012, 0x0062),
    (0x0012, 0x0063), (0x0012, 0x0064), (0x0010, 0x0021), (0x0010, 0x0024),
    (0x0020, 0x000d), (0x0008, 0x0020), (0x0008, 0x0030), (0x0008, 0x0090),
    (0x0008, 0x0096), (0x0020, 0x0010), (0x0008, 0x0050), (0x0008, 0x0051),
    (0x0008, 0x1030), (0x0008, 0x1048), (0x0008, 0x1049), (0x0008, 0x1060),
    (0x0008, 0x1062), (0x0032, 0x1034), (0x0008, 0x1110), (0x0008, 0x1032),
    (0x0040, 0x1012),
];

fn module_tags() -> impl Iterator<Item = Tag> {
    PATIENT_STUDY_MODULES.iter().map(|&(g, e)| Tag(g, e))
}

/// What a split or a merge answers.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitMergeOutcome {
    /// The Orthanc ID of the study the copies went to (none if nothing was copied).
    pub target_study: Option<String>,
    /// Split only: the new StudyInstanceUID.
    pub target_study_uid: Option<String>,
    pub instances: usize,
}

fn strings(body: &Map<String, Value>, key: &str) -> std::result::Result<Vec<String>, ModifyError> {
    match body.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(ModifyError::BadBody(None)),
        Some(_) => Err(ModifyError::BadBody(None)),
    }
}

impl Archive {
    /// `POST /studies/{id}/split`.
    pub async fn split_study(
        &self,
        study: &str,
        body: &Value,
        origin: &Origin,
    ) -> Result<SplitMergeOutcome> {
        self.resource_at(Level::Study, study)?;
        let body = body.as_object().ok_or(ModifyError::BadBody(None))?;
        synchronous_only(body)?;
        let mut instances = Vec::new();
        let mut any = false;
        for series in strings(body, "Series")? {
            any = true;
            if self.ancestor(&series, Level::Study)?.id != study {
                return Err(ServiceError::UnknownResource(series));
            }
            instances.extend(self.descendants(&series, Level::Instance)?);
        }
        for instance in strings(body, "Instances")? {
            any = true;
            if self.resource_at(Level::Instance, &instance).is_err()
                || self.ancestor(&instance, Level::Study)?.id != study
            {
                return Err(ServiceError::UnknownResource(instance));
            }
            instances.push(instance);
        }
        if !any {
            return Err(ModifyError::BadRequest(Some(
                "Both the \"Series\" and the \"Instances\" fields are missing".into(),
            ))
            .into());
        }
        let keep_source = boolean(body, "KeepSource", false)?;
        let allowed: BTreeSet<Tag> = module_tags()
            .filter(|t| *t != STUDY_INSTANCE_UID && *t != modify::SERIES_INSTANCE_UID)
            .collect();
        let check = |tag: Tag| -> std::result::Result<Tag, ModifyError> {
            if allowed.contains(&tag) {
                return Ok(tag);
            }
            let name = crate::dicom::dictionary::tag_name(tag, None);
            Err(ModifyError::OutOfRange(format!(
                "Cannot modify the following tag while splitting a study (not in the patient/study modules): {name} ({})",
                tag.format_comma()
            )))
        };
        let target_uid = modify::new_uid();
        let mut m = Modification::new(Level::Study);
        match body.get("Remove") {
            None => {}
            Some(Value::Array(items)) => {
                for item in items {
                    let name = item.as_str().ok_or(ModifyError::BadBody(None))?;
                    m.remove.insert(check(parse_tag(name)?)?);
                }
            }
            Some(_) => return Err(ModifyError::BadBody(None).into()),
        }
        match body.get("Replace") {
            None => {}
            Some(Value::Object(members)) => {
                for (name, value) in members {
                    let value = value.as_str().ok_or(ModifyError::BadBody(None))?;
                    let tag = check(parse_tag(name)?)?;
                    m.remove.remove(&tag);
                    m.replace.insert(tag, NewValue::Text(value.to_owned()));
                }
            }
            Some(_) => return Err(ModifyError::BadBody(None).into()),
        }
        m.replace
            .insert(STUDY_INSTANCE_UID, NewValue::Text(target_uid.clone()));
        let target = self
            .copy_instances(&dedup(instances.clone()), &m, origin)
            .await?;
        if !keep_source {
            self.delete_sources(&instances).await?;
        }
        Ok(SplitMergeOutcome {
            target_study: target,
            target_study_uid: Some(target_uid),
            instances: instances.len(),
        })
    }

    /// `POST /studies/{id}/merge`.
    pub async fn merge_study(
        &self,
        study: &str,
        body: &Value,
        origin: &Origin,
    ) -> Result<SplitMergeOutcome> {
        self.resource_at(Level::Study, study)?;
        let body = body.as_object().ok_or(ModifyError::BadBody(None))?;
        synchronous_only(body)?;
        let mut m = Modification::new(Level::Series);
        let first = self
            .descendants(study, Level::Instance)?
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::UnknownResource(study.to_owned()))?;
        let parsed = dicom_crate::parse(&self.instance_file(&first).await?)?;
        let summary = dicom_crate::json::short(&parsed.object);
        for tag in module_tags() {
            match summary.get(tag.format_comma()).and_then(Value::as_str) {
                Some(v) => {
                    m.replace.insert(tag, NewValue::Text(v.to_owned()));
                }
                None => {
                    m.remove.insert(tag);
                }
            }
        }
        let mut instances = Vec::new();
        for id in strings(body, "Resources")? {
            let r = self.resource(&id)?;
            let parent_study = match r.level {
                Level::Patient => return Err(ServiceError::UnknownResource(id)),
                Level::Study => r.id.clone(),
                _ => self.ancestor(&id, Level::Study)?.id,
            };
            if parent_study == study {
                return Err(ServiceError::UnknownResource(id));
            }
            instances.extend(self.descendants(&id, Level::Instance)?);
        }
        let keep_source = boolean(body, "KeepSource", false)?;
        self.copy_instances(&dedup(instances.clone()), &m, origin)
            .await?;
        if !keep_source {
            self.delete_sources(&instances).await?;
        }
        Ok(SplitMergeOutcome {
            target_study: Some(study.to_owned()),
            target_study_uid: None,
            instances: instances.len(),
        })
    }

    /// Rewrites and stores `instances` with one UID map (one new series per
    /// source series); answers the study of the copies.
    async fn copy_instances(
        &self,
        instances: &[String],
        m: &Modification,
        origin: &Origin,
    ) -> Result<Option<String>> {
        let mut uids = UidMap::default();
        let mut created: Vec<String> = Vec::new();
        let mut target = None;
        for id in instances {
            let outcome = async {
                let file = self.instance_file(id).await?;
                let rewritten = modify::apply(&file, m, &mut uids)?;
                self.store_copy(id, rewritten, None, origin, &mut HashSet::new())
                    .await
            }
            .await;
            match outcome {
                Ok(ids) => {
                    target.get_or_insert(ids.study);
                    created.push(ids.instance);
                }
                Err(e) => {
                    self.roll_back(&created).await;
                    return Err(e);
                }
            }
        }
        Ok(target)
    }
}

fn dedup(ids: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.into_iter().filter(|i| seen.insert(i.clone())).collect()
}
