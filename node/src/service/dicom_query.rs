//! DICOM queries, protocol-neutral: a C-FIND (or C-MOVE/C-GET) identifier, as
//! a level and (tag, value) keys, becomes index [`TagQuery`]s; the matching
//! resources become answers holding the requested keys. Used by the C-FIND,
//! C-MOVE and C-GET services; the REST side may reuse it.
//!
//! As Orthanc: main tags of the query level and its ancestors are matched from
//! the index (wildcards `*` `?`, ranges for DA/TM/DT, lists `A\B`, universal
//! matching for empty values), PN case-insensitively unless `CaseSensitivePN`;
//! `ModalitiesInStudy` filters studies by the modalities of their series; the
//! computed keys (`NumberOf*Related*`, `ModalitiesInStudy`,
//! `SOPClassesInStudy`) are answered from the index; `LimitFindResults` and
//! `LimitFindInstances` bound the answers. Keys that are no main tag (nor
//! computed) are read, as Orthanc's default `StorageAccessOnFind: Always`
//! does, from the first instance file of each candidate: their constraints
//! filter, their values are answered. Main tags never need a file.

use std::collections::BTreeSet;

use super::{Archive, Result};
use crate::dicom::{self, Tag};
use crate::index::normalize::Constraint;
use crate::index::query::TagQuery;
use crate::index::{Level, Resource};

const QUERY_RETRIEVE_LEVEL: Tag = Tag(0x0008, 0x0052);
const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);
const MODALITIES_IN_STUDY: Tag = Tag(0x0008, 0x0061);
const SOP_CLASSES_IN_STUDY: Tag = Tag(0x0008, 0x0062);

/// One key of an identifier: the tag, its VR (two letters) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryKey {
    pub tag: Tag,
    pub vr: String,
    pub value: String,
}

/// One answer: `QueryRetrieveLevel`, then the requested keys in request order
/// (empty when unknown).
pub type QueryAnswer = Vec<(Tag, String)>;

/// Parses `QueryRetrieveLevel`.
pub fn parse_level(value: &str) -> Option<Level> {
    match value.trim().to_ascii_uppercase().as_str() {
        "PATIENT" => Some(Level::Patient),
        "STUDY" => Some(Level::Study),
        "SERIES" => Some(Level::Series),
        "IMAGE" | "INSTANCE" => Some(Level::Instance),
        _ => None,
    }
}

pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Patient => "PATIENT",
        Level::Study => "STUDY",
        Level::Series => "SERIES",
        Level::Instance => "IMAGE",
    }
}

/// Whether a key is answered from a file: neither a main tag nor a computed
/// key nor a query/retrieve attribute.
fn needs_file(tag: Tag) -> bool {
    let computed = matches!(
        tag,
        Tag(0x0020, 0x1200 | 0x1202 | 0x1204 | 0x1206 | 0x1208 | 0x1209)
    ) || tag == MODALITIES_IN_STUDY
        || tag == SOP_CLASSES_IN_STUDY;
    main_tag(tag).is_none()
        && !computed
        && tag != QUERY_RETRIEVE_LEVEL
        && tag != SPECIFIC_CHARACTER_SET
        && tag.0 > 0x0002
}

/// The main tag a key designates, with its level (Orthanc's name).
fn main_tag(tag: Tag) -> Option<(Level, &'static str)> {
    dicom::main_tag_definitions()
        .iter()
        .filter(|d| d.tag == tag)
        .map(|d| (d.level, d.name))
        .min_by_key(|(l, _)| *l)
}

impl Archive {
    /// Resources at `level` matching the keys' constraints, in creation order.
    pub fn dicom_lookup(&self, level: Level, keys: &[QueryKey]) -> Result<Vec<Resource>> {
        let case_sensitive_pn = self.config.case_sensitive_pn;
        let mut queries = Vec::new();
        for key in keys {
            let value = key.value.trim_end_matches(['\0', ' ']);
            if key.tag == MODALITIES_IN_STUDY && level == Level::Study {
                // A study matches when one of its series does: a constraint
                // on the series' Modality, resolved by the index.
                let constraint = Constraint::parse(value, false);
                if constraint != Constraint::Any {
                    queries.push(TagQuery {
                        level: Level::Series,
                        tag: "Modality".to_owned(),
                        constraint,
                        case_sensitive: true,
                    });
                }
                continue;
            }
            let Some((tag_level, name)) = main_tag(key.tag) else {
                continue;
            };
            if tag_level > level {
                continue;
            }
            let ranges = matches!(key.vr.as_str(), "DA" | "TM" | "DT");
            let constraint = Constraint::parse(value, ranges);
            if constraint == Constraint::Any {
                continue;
            }
            let case_sensitive = if key.vr == "PN" {
                case_sensitive_pn
            } else {
                true
            };
            queries.push(TagQuery {
                level: tag_level,
                tag: name.to_owned(),
                constraint,
                case_sensitive,
            });
        }
        self.find(level, &queries)
    }

    /// A C-FIND: the answers, and whether the limit truncated them.
    pub async fn dicom_find(
        &self,
        level: Level,
        keys: &[QueryKey],
    ) -> Result<(Vec<QueryAnswer>, bool)> {
        let found = self.dicom_lookup(level, keys)?;
        let limit = if level == Level::Instance {
            self.config.limit_find_instances
        } else {
            self.config.limit_find_results
        };
        let limit = if limit > 0 { limit } else { usize::MAX };
        let from_file: Vec<&QueryKey> = keys.iter().filter(|k| needs_file(k.tag)).collect();
        let mut answers = Vec::new();
        let mut truncated = false;
        for r in &found {
            let file_values = if from_file.is_empty() {
                None
            } else {
                Some(self.file_values(r, &from_file).await?)
            };
            if let Some(values) = &file_values {
                let matches = from_file.iter().zip(values).all(|(k, v)| {
                    let value = k.value.trim_end_matches(['\0', ' ']);
                    let c = Constraint::parse(value, matches!(k.vr.as_str(), "DA" | "TM" | "DT"));
                    c == Constraint::Any || v.as_deref().is_some_and(|v| c.matches(v, k.vr != "PN"))
                });
                if !matches {
                    continue;
                }
            }
            if answers.len() == limit {
                truncated = true;
                break;
            }
            let mut answer = self.answer(r, level, keys)?;
            if let Some(values) = file_values {
                for (k, v) in from_file.iter().zip(values) {
                    if let Some(slot) = answer.iter_mut().find(|(t, _)| *t == k.tag) {
                        slot.1 = v.unwrap_or_default();
                    }
                }
            }
            answers.push(answer);
        }
        Ok((answers, truncated))
    }

    /// Values of `keys` in the first instance file below `r`.
    async fn file_values(&self, r: &Resource, keys: &[&QueryKey]) -> Result<Vec<Option<String>>> {
        let Some(instance) = self.descendants(&r.id, Level::Instance)?.into_iter().next() else {
            return Ok(vec![None; keys.len()]);
        };
        let bytes = self.instance_file(&instance).await?;
        let file = dicom::reader::read_file(&bytes).map_err(|reason| {
            dicom::DicomError::BadFileFormat {
                size: bytes.len(),
                reason,
            }
        })?;
        let charset = dicom::charset::Charset::of(&file.dataset);
        Ok(keys
            .iter()
            .map(|k| match file.dataset.get(k.tag) {
                Some(el) => match dicom::values::convert(el, None, &charset) {
                    dicom::values::Leaf::String(s) => Some(s),
                    dicom::values::Leaf::Null => None,
                },
                None => None,
            })
            .collect())
    }

    fn answer(&self, r: &Resource, level: Level, keys: &[QueryKey]) -> Result<QueryAnswer> {
        let reader = self.node.reader();
        // The resource and its ancestors, for main tags of upper levels.
        let mut chain = vec![r.clone()];
        while let Some(p) = chain.last().and_then(|c| c.parent.clone()) {
            match reader.resource(&p)? {
                Some(pr) => chain.push(pr),
                None => break,
            }
        }
        let mut out = vec![(QUERY_RETRIEVE_LEVEL, level_name(level).to_owned())];
        for key in keys {
            if key.tag == QUERY_RETRIEVE_LEVEL || key.tag == SPECIFIC_CHARACTER_SET {
                continue;
            }
            let value = match main_tag(key.tag) {
                Some((tag_level, name)) => chain
                    .iter()
                    .find(|c| c.level == tag_level)
                    .and_then(|c| c.main_tags.get(name).cloned())
                    .unwrap_or_default(),
                None => self.computed(r, key.tag)?.unwrap_or_default(),
            };
            out.push((key.tag, value));
        }
        Ok(out)
    }

    /// Orthanc's computed C-FIND keys.
    fn computed(&self, r: &Resource, tag: Tag) -> Result<Option<String>> {
        let count = |l: Level| -> Result<Option<String>> {
            Ok(Some(
                self.node
                    .reader()
                    .count_below(&r.id, r.level, l)?
                    .to_string(),
            ))
        };
        match (r.level, tag) {
            (Level::Patient, Tag(0x0020, 0x1200)) => count(Level::Study),
            (Level::Patient, Tag(0x0020, 0x1202)) => count(Level::Series),
            (Level::Patient, Tag(0x0020, 0x1204)) => count(Level::Instance),
            (Level::Study, Tag(0x0020, 0x1206)) => count(Level::Series),
            (Level::Study, Tag(0x0020, 0x1208)) => count(Level::Instance),
            (Level::Series, Tag(0x0020, 0x1209)) => count(Level::Instance),
            (Level::Study, MODALITIES_IN_STUDY) => {
                let set = self.node.reader().children_tag_values(&r.id, "Modality")?;
                Ok(Some(set.into_iter().collect::<Vec<_>>().join("\\")))
            }
            (Level::Study, SOP_CLASSES_IN_STUDY) => {
                let reader = self.node.reader();
                let mut set = BTreeSet::new();
                for i in self.descendants(&r.id, Level::Instance)? {
                    if let Some(c) = reader
                        .resource(&i)?
                        .and_then(|i| i.metadata.get("SopClassUid").cloned())
                    {
                        if !c.is_empty() {
                            set.insert(c);
                        }
                    }
                }
                Ok(Some(set.into_iter().collect::<Vec<_>>().join("\\")))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
