//! Running a planned find: the index's candidates, checked against their
//! first instance file when the plan says so, then paged; `/tools/lookup`;
//! and the selection of C-MOVE / C-GET (the index alone).

use super::{FileKey, FindKey, FindRequest};
use crate::dicom::{self, charset::Charset, values::Leaf};
use crate::index::find::TagConstraint;
use crate::index::normalize::Constraint;
use crate::index::{Level, Resource};
use crate::service::{Archive, Result};

/// One matching resource.
#[derive(Debug, Clone)]
pub struct Match {
    pub resource: Resource,
    /// With [`FindRequest::answer_keys`]: the keys and their values, in
    /// request order (empty when unknown); `QueryRetrieveLevel` and
    /// `SpecificCharacterSet` are left out.
    pub keys: Vec<(dicom::Tag, String)>,
}

/// The answers of a find.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// In creation order.
    pub matches: Vec<Match>,
    /// Whether the limit left matches out.
    pub truncated: bool,
}

impl Archive {
    /// Runs a find: the matches at the request's level, in creation order,
    /// `since` skipped, at most `limit`.
    pub async fn find(&self, request: &FindRequest) -> Result<Found> {
        let plan = request.plan();
        let mut out = Found::default();
        if plan.impossible {
            return Ok(out);
        }
        let found = self.node.reader().find(request.level, &plan.indexed)?;
        let limit = if request.limit > 0 {
            request.limit
        } else {
            usize::MAX
        };
        let mut skipped = 0;
        for r in found {
            let file_values = if plan.from_file.is_empty() {
                None
            } else {
                Some(self.file_values(&r, request, &plan.from_file).await?)
            };
            if let Some(values) = &file_values {
                let matches = plan
                    .from_file
                    .iter()
                    .zip(values)
                    .all(|(k, v)| k.matches(v.as_deref()));
                if !matches {
                    continue;
                }
            }
            if skipped < request.since {
                skipped += 1;
                continue;
            }
            if out.matches.len() == limit {
                out.truncated = true;
                break;
            }
            let keys = if request.answer_keys {
                let mut keys = self.answer(&r, request)?;
                for (k, v) in plan.from_file.iter().zip(file_values.unwrap_or_default()) {
                    let tag = request.keys[k.key].0.tag();
                    if let Some(slot) = keys.iter_mut().find(|(t, _)| Some(*t) == tag) {
                        slot.1 = v.unwrap_or_default();
                    }
                }
                keys
            } else {
                Vec::new()
            };
            out.matches.push(Match { resource: r, keys });
        }
        Ok(out)
    }

    /// The resources the request's index constraints select, every one (no
    /// file read, no limit): what a C-MOVE or C-GET identifier designates.
    pub fn select(&self, request: &FindRequest) -> Result<Vec<Resource>> {
        let plan = request.plan();
        if plan.impossible {
            return Ok(Vec::new());
        }
        Ok(self.node.reader().find(request.level, &plan.indexed)?)
    }

    /// `/tools/lookup`: the patients, studies, series and instances (in that
    /// order) whose identifier is exactly `needle`.
    pub fn lookup(&self, needle: &str) -> Result<Vec<Resource>> {
        let reader = self.node.reader();
        let mut out = Vec::new();
        for (level, tag) in [
            (Level::Patient, "PatientID"),
            (Level::Study, "StudyInstanceUID"),
            (Level::Series, "SeriesInstanceUID"),
            (Level::Instance, "SOPInstanceUID"),
        ] {
            let exact = TagConstraint {
                level,
                tag: tag.into(),
                constraint: Constraint::Equal(needle.to_owned()),
                case_sensitive: true,
            };
            out.extend(reader.find(level, &[exact])?);
        }
        Ok(out)
    }

    /// The values of the file keys in the first instance file below `r`
    /// (all `None` without an instance). Named keys are read from the
    /// instance's simplified tags, elements from its data set.
    async fn file_values(
        &self,
        r: &Resource,
        request: &FindRequest,
        keys: &[FileKey],
    ) -> Result<Vec<Option<String>>> {
        let Some(instance) = self.descendants(&r.id, Level::Instance)?.into_iter().next() else {
            return Ok(vec![None; keys.len()]);
        };
        let bytes = self.instance_file(&instance).await?;
        let named = keys
            .iter()
            .any(|k| matches!(request.keys[k.key].0, FindKey::Named { .. }));
        let encoding = self.default_encoding()?;
        let file = if named {
            dicom::parse_with(&bytes, encoding)?.object
        } else {
            dicom::reader::read_file(&bytes).map_err(|reason| dicom::DicomError::BadFileFormat {
                size: bytes.len(),
                reason,
            })?
        };
        let simplified = named.then(|| dicom::json::simplified_with(&file, encoding));
        let charset = Charset::of_or(&file.dataset, encoding);
        Ok(keys
            .iter()
            .map(|k| match &request.keys[k.key].0 {
                FindKey::Named { name, .. } => simplified
                    .as_ref()
                    .and_then(|tags| tags.get(name))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned),
                FindKey::Element { tag, .. } => match file.dataset.get(*tag) {
                    Some(el) => match dicom::values::convert(el, None, &charset) {
                        Leaf::String(s) => Some(s),
                        Leaf::Null => None,
                    },
                    None => None,
                },
            })
            .collect())
    }
}
