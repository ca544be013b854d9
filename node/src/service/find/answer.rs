//! C-FIND's answers: the value of each key for one matching resource, from
//! the index (main tags of the resource and its ancestors; the keys Orthanc
//! computes: `NumberOf*Related*`, `ModalitiesInStudy`, `SOPClassesInStudy`);
//! keys read from a file are filled in by the caller. Also the values of
//! `QueryRetrieveLevel`.

use std::collections::BTreeSet;

use super::{
    main_tag, FindRequest, MODALITIES_IN_STUDY, QUERY_RETRIEVE_LEVEL, SOP_CLASSES_IN_STUDY,
    SPECIFIC_CHARACTER_SET,
};
use crate::dicom::Tag;
use crate::index::{Level, Resource};
use crate::service::{Archive, Result};

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

/// The `QueryRetrieveLevel` of a level.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Patient => "PATIENT",
        Level::Study => "STUDY",
        Level::Series => "SERIES",
        Level::Instance => "IMAGE",
    }
}

impl Archive {
    /// The request's keys with their values for `r`, from the index (empty
    /// when unknown); `QueryRetrieveLevel` and `SpecificCharacterSet` left out.
    pub(super) fn answer(&self, r: &Resource, request: &FindRequest) -> Result<Vec<(Tag, String)>> {
        let reader = self.node.reader();
        // The resource and its ancestors, for main tags of upper levels.
        let mut chain = vec![r.clone()];
        while let Some(p) = chain.last().and_then(|c| c.parent.clone()) {
            match reader.resource(&p)? {
                Some(pr) => chain.push(pr),
                None => break,
            }
        }
        let mut out = Vec::new();
        for (key, _) in &request.keys {
            let Some(tag) = key.tag() else {
                continue;
            };
            if tag == QUERY_RETRIEVE_LEVEL || tag == SPECIFIC_CHARACTER_SET {
                continue;
            }
            let value = match main_tag(tag) {
                Some((tag_level, name)) => chain
                    .iter()
                    .find(|c| c.level == tag_level)
                    .and_then(|c| c.main_tags.get(name).cloned())
                    .unwrap_or_default(),
                None => self.computed(r, tag)?.unwrap_or_default(),
            };
            out.push((tag, value));
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
