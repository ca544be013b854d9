//! Query/retrieve against remote modalities, without the network: how Orthanc
//! 1.10.1 turns a REST query into a C-FIND identifier (normalisation per
//! level, the keys it always asks for, the templates of the deprecated
//! `find-*` routes), which keys of an answer a C-MOVE carries, and the
//! per-node registry of query results behind `/queries`.
//!
//! The registry lives in memory on the node that ran the query, as in Orthanc
//! (`QueryRetrieveSize` bounds it, oldest first out); it is not replicated.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::{Result, ServiceError};
use crate::dicom::dictionary;
use crate::dicom::model::Tag;
use crate::index::Level;

pub const QUERY_RETRIEVE_LEVEL: Tag = Tag(0x0008, 0x0052);
pub const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);
pub const PATIENT_ID: Tag = Tag(0x0010, 0x0020);
pub const ACCESSION_NUMBER: Tag = Tag(0x0008, 0x0050);
pub const STUDY_UID: Tag = Tag(0x0020, 0x000d);
pub const SERIES_UID: Tag = Tag(0x0020, 0x000e);
pub const SOP_UID: Tag = Tag(0x0008, 0x0018);
const MODALITIES_IN_STUDY: Tag = Tag(0x0008, 0x0061);

/// A query's keys: tag and value (empty asks for the key), sorted by tag.
pub type Keys = Vec<(Tag, String)>;

/// Parses the `Query` object of `/modalities/{m}/query` (or the body of the
/// `find-*` routes): keys are tag names or `gggg,eeee`, values strings.
pub fn parse_keys(query: &Map<String, Value>) -> Result<Keys> {
    let mut keys = Keys::new();
    for (key, value) in query {
        let tag = parse_tag(key)?;
        let value = match value {
            Value::String(s) => s.clone(),
            other => {
                return Err(ServiceError::BadQuery(format!(
                    "the value of {key} must be a string, not {other}"
                )))
            }
        };
        set(&mut keys, tag, value);
    }
    Ok(keys)
}

/// A tag designated by its name or its `gggg,eeee` / `ggggeeee` form.
pub fn parse_tag(key: &str) -> Result<Tag> {
    Tag::parse(key)
        .or_else(|| dictionary::find_by_name(key))
        .ok_or_else(|| ServiceError::BadQuery(format!("unknown DICOM tag: {key}")))
}

/// Sets a key, keeping the list sorted and without duplicates.
pub fn set(keys: &mut Keys, tag: Tag, value: String) {
    match keys.binary_search_by(|(t, _)| t.cmp(&tag)) {
        Ok(i) => keys[i].1 = value,
        Err(i) => keys.insert(i, (tag, value)),
    }
}

fn get(keys: &Keys, tag: Tag) -> Option<&str> {
    keys.iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, v)| v.as_str())
}

/// The level of `/modalities/{m}/query`: Orthanc's `StringToResourceType`.
pub fn parse_level(s: &str) -> Result<Level> {
    match s.to_ascii_lowercase().as_str() {
        "patient" | "patients" => Ok(Level::Patient),
        "study" | "studies" => Ok(Level::Study),
        "series" => Ok(Level::Series),
        "instance" | "instances" | "image" | "images" => Ok(Level::Instance),
        _ => Err(ServiceError::BadLevel(s.to_owned())),
    }
}

fn module(level: Level) -> &'static [(u16, u16)] {
    match level {
        // PS 3.3 C.7-1 Patient Module, with the Issuer of Patient ID macro.
        Level::Patient => &[
            (0x0010, 0x0010),
            (0x0010, 0x0020),
            (0x0010, 0x0030),
            (0x0010, 0x0040),
            (0x0008, 0x1120),
            (0x0010, 0x0032),
            (0x0010, 0x1000),
            (0x0010, 0x1002),
            (0x0010, 0x1001),
            (0x0010, 0x2160),
            (0x0010, 0x4000),
            (0x0010, 0x2201),
            (0x0010, 0x2202),
            (0x0010, 0x2292),
            (0x0010, 0x2293),
            (0x0010, 0x2294),
            (0x0010, 0x2297),
            (0x0010, 0x2298),
            (0x0010, 0x2299),
            (0x0012, 0x0062),
            (0x0012, 0x0063),
            (0x0012, 0x0064),
            (0x0010, 0x0021),
            (0x0010, 0x0024),
        ],
        // C.7-3 General Study Module.
        Level::Study => &[
            (0x0020, 0x000d),
            (0x0008, 0x0020),
            (0x0008, 0x0030),
            (0x0008, 0x0090),
            (0x0008, 0x0096),
            (0x0020, 0x0010),
            (0x0008, 0x0050),
            (0x0008, 0x0051),
            (0x0008, 0x1030),
            (0x0008, 0x1048),
            (0x0008, 0x1049),
            (0x0008, 0x1060),
            (0x0008, 0x1062),
            (0x0032, 0x1034),
            (0x0008, 0x1110),
            (0x0008, 0x1032),
            (0x0040, 0x1012),
        ],
        // C.7-5 General Series Module, with the performed procedure step summary macro.
        Level::Series => &[
            (0x0008, 0x0060),
            (0x0020, 0x000e),
            (0x0020, 0x0011),
            (0x0020, 0x0060),
            (0x0008, 0x0021),
            (0x0008, 0x0031),
            (0x0008, 0x1050),
            (0x0008, 0x1052),
            (0x0018, 0x1030),
            (0x0008, 0x103e),
            (0x0008, 0x103f),
            (0x0008, 0x1070),
            (0x0008, 0x1072),
            (0x0008, 0x1111),
            (0x0008, 0x1250),
            (0x0018, 0x0015),
            (0x0018, 0x5100),
            (0x0028, 0x0108),
            (0x0029, 0x0109),
            (0x0040, 0x0275),
            (0x0010, 0x2210),
            (0x0040, 0x0253),
            (0x0040, 0x0244),
            (0x0040, 0x0245),
            (0x0040, 0x0254),
            (0x0040, 0x0260),
            (0x0040, 0x0280),
        ],
        // C.12-1 SOP Common Module, with the digital signatures macro.
        Level::Instance => &[
            (0x0008, 0x0016),
            (0x0008, 0x0018),
            (0x0008, 0x0005),
            (0x0008, 0x0012),
            (0x0008, 0x0013),
            (0x0008, 0x0014),
            (0x0008, 0x001a),
            (0x0008, 0x001b),
            (0x0008, 0x0110),
            (0x0008, 0x0201),
            (0x0018, 0xa001),
            (0x0020, 0x0013),
            (0x0100, 0x0410),
            (0x0100, 0x0420),
            (0x0100, 0x0424),
            (0x0100, 0x0426),
            (0x0400, 0x0500),
            (0x0400, 0x0561),
            (0x0040, 0xa390),
            (0x0028, 0x0303),
            (0x4ffe, 0x0001),
            (0xfffa, 0xfffa),
        ],
    }
}

/// The keys a normalised query may carry at `level` (Orthanc's `FixFindQuery`):
/// the modules of the level and the levels above, the computed counters of
/// the level, and `SpecificCharacterSet`.
fn allowed_tags(level: Level) -> BTreeSet<Tag> {
    let mut allowed = BTreeSet::new();
    let mut l = Some(level);
    while let Some(current) = l {
        allowed.extend(module(current).iter().map(|&(g, e)| Tag(g, e)));
        l = current.parent();
    }
    let counters: &[(u16, u16)] = match level {
        Level::Patient => &[(0x0020, 0x1200), (0x0020, 0x1202), (0x0020, 0x1204)],
        Level::Study => &[
            (0x0008, 0x0061),
            (0x0020, 0x1206),
            (0x0020, 0x1208),
            (0x0008, 0x0062),
        ],
        Level::Series => &[(0x0020, 0x1209)],
        Level::Instance => &[],
    };
    allowed.extend(counters.iter().map(|&(g, e)| Tag(g, e)));
    allowed.insert(SPECIFIC_CHARACTER_SET);
    allowed
}

/// The C-FIND identifier keys Orthanc sends for a query (`Find` of its
/// `DicomControlUserConnection`): with `normalize`, keys foreign to the level
/// are dropped; then the identifying keys of the level and the levels above
/// are added when absent (universal matching: "" or, for GE, "*").
pub fn find_identifier(level: Level, keys: &Keys, normalize: bool, manufacturer: &str) -> Keys {
    let mut out: Keys = if normalize {
        let allowed = allowed_tags(level);
        keys.iter()
            .filter(|(t, _)| allowed.contains(t))
            .cloned()
            .collect()
    } else {
        keys.clone()
    };
    let universal = if manufacturer == "GE" { "*" } else { "" };
    let expected: &[Tag] = match level {
        Level::Patient => &[PATIENT_ID],
        Level::Study => &[ACCESSION_NUMBER, STUDY_UID, PATIENT_ID],
        Level::Series => &[SERIES_UID, ACCESSION_NUMBER, STUDY_UID, PATIENT_ID],
        Level::Instance => &[SOP_UID, SERIES_UID, ACCESSION_NUMBER, STUDY_UID, PATIENT_ID],
    };
    for &tag in expected {
        if get(&out, tag).is_none() {
            set(&mut out, tag, universal.to_owned());
        }
    }
    out.retain(|(t, _)| *t != QUERY_RETRIEVE_LEVEL);
    out
}

/// The string value of `tag` in an answer rendered in Orthanc's full JSON form.
pub fn answer_value(answer: &Value, tag: Tag) -> Option<&str> {
    answer.get(tag.format_comma())?.get("Value")?.as_str()
}

/// An answer as Orthanc keeps it: DCMTK gives the answer a file meta header,
/// so `MediaStorageSOPClassUID` / `MediaStorageSOPInstanceUID` (0002,0002 /
/// 0002,0003) repeat `SOPClassUID` / `SOPInstanceUID` when the answer has them.
pub fn with_meta_header(full: Value) -> Value {
    let Value::Object(members) = full else {
        return full;
    };
    let mut out = Map::new();
    for (meta, name, source) in [
        ("0002,0002", "MediaStorageSOPClassUID", "0008,0016"),
        ("0002,0003", "MediaStorageSOPInstanceUID", "0008,0018"),
    ] {
        if let Some(node) = members
            .get(source)
            .filter(|n| n.get("Type") == Some(&Value::from("String")))
        {
            let mut copy = node.clone();
            copy["Name"] = Value::from(name);
            out.insert(meta.to_owned(), copy);
        }
    }
    out.extend(members.into_iter().filter(|(k, _)| !k.starts_with("0002,")));
    Value::Object(out)
}

/// The keys of a C-MOVE at `level` (Orthanc's `Move`): the unique keys down
/// to the level, taken from `lookup`; the first missing one is the error.
pub fn move_identifier(
    level: Level,
    lookup: impl Fn(Tag) -> Option<String>,
) -> std::result::Result<Keys, Tag> {
    let tags: &[Tag] = match level {
        Level::Patient => &[PATIENT_ID],
        Level::Study => &[STUDY_UID],
        Level::Series => &[STUDY_UID, SERIES_UID],
        Level::Instance => &[STUDY_UID, SERIES_UID, SOP_UID],
    };
    let mut keys = Keys::new();
    for &tag in tags {
        set(&mut keys, tag, lookup(tag).ok_or(tag)?);
    }
    Ok(keys)
}

/// The full JSON form of query keys (`/queries/{q}/query`).
pub fn keys_to_full_json(keys: &Keys) -> Value {
    let mut out = Map::new();
    for (tag, value) in keys {
        let mut node = Map::new();
        node.insert("Name".into(), Value::from(dictionary::tag_name(*tag, None)));
        node.insert("Type".into(), Value::from("String"));
        node.insert("Value".into(), Value::from(value.as_str()));
        out.insert(tag.format_comma(), Value::Object(node));
    }
    Value::Object(out)
}

/// The level an answer declares (`QueryRetrieveLevel`), else the query's.
pub fn answer_level(answer: &Value, default: Level) -> Level {
    answer_value(answer, QUERY_RETRIEVE_LEVEL)
        .and_then(|v| parse_level(v.trim()).ok())
        .unwrap_or(default)
}

/// How the synchronous answer of a retrieve describes one answer (Orthanc's
/// `DicomMoveScuJob::AddFindAnswer`): its identifying keys, short form.
pub fn retrieve_description(answer: &Value) -> Value {
    let mut out = Map::new();
    for tag in [
        QUERY_RETRIEVE_LEVEL,
        PATIENT_ID,
        STUDY_UID,
        SERIES_UID,
        SOP_UID,
        ACCESSION_NUMBER,
    ] {
        if let Some(v) = answer_value(answer, tag) {
            out.insert(tag.format_comma(), Value::String(v.to_owned()));
        }
    }
    let mut sorted: Vec<_> = out.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Object(sorted.into_iter().collect())
}

/// The template of the deprecated `find-{level}` routes (Orthanc's
/// `SetupFind*Template`): main tags of the level plus the identifying keys
/// of the levels above, all empty.
pub fn find_template(level: Level) -> Keys {
    use crate::dicom::main_tag_definitions;
    let mut keys = Keys::new();
    for def in main_tag_definitions().iter().filter(|d| d.level == level) {
        set(&mut keys, def.tag, String::new());
    }
    let not_in_module: &[(u16, u16)] = match level {
        Level::Study => &[(0x0008, 0x0080), (0x0032, 0x1032), (0x0032, 0x1060)],
        Level::Series => &[
            (0x0008, 0x0070),
            (0x0008, 0x1010),
            (0x0018, 0x0024),
            (0x0018, 0x1090),
            (0x0020, 0x1002),
            (0x0054, 0x0081),
            (0x0020, 0x0105),
            (0x0054, 0x0101),
            (0x0020, 0x0037),
            (0x0054, 0x1000),
            (0x0018, 0x1400),
            (0x0018, 0x0010),
        ],
        _ => &[],
    };
    keys.retain(|(t, _)| !not_in_module.contains(&(t.0, t.1)));
    let above: &[Tag] = match level {
        Level::Patient => &[],
        Level::Study => &[ACCESSION_NUMBER, PATIENT_ID],
        Level::Series => &[ACCESSION_NUMBER, PATIENT_ID, STUDY_UID],
        Level::Instance => &[ACCESSION_NUMBER, PATIENT_ID, STUDY_UID, SERIES_UID],
    };
    for &tag in above {
        set(&mut keys, tag, String::new());
    }
    keys
}

/// The filters of the deprecated routes kept for `level` (Orthanc's
/// `Find{Patient,Study,Series,Instance}`): the level's main tags plus the
/// identifying keys of the levels above.
pub fn legacy_filter(level: Level, fields: &Keys) -> Keys {
    use crate::dicom::main_tag_definitions;
    let mut wanted: BTreeSet<Tag> = main_tag_definitions()
        .iter()
        .filter(|d| d.level == level)
        .map(|d| d.tag)
        .collect();
    match level {
        Level::Patient => {}
        Level::Study => wanted.extend([PATIENT_ID, ACCESSION_NUMBER, MODALITIES_IN_STUDY]),
        Level::Series => wanted.extend([PATIENT_ID, ACCESSION_NUMBER, STUDY_UID]),
        Level::Instance => wanted.extend([PATIENT_ID, ACCESSION_NUMBER, STUDY_UID, SERIES_UID]),
    }
    fields
        .iter()
        .filter(|(t, _)| wanted.contains(t))
        .cloned()
        .collect()
}

/// One query run against a modality, with its answers.
#[derive(Debug)]
pub struct StoredQuery {
    pub id: String,
    /// The symbolic name of the modality.
    pub modality: String,
    pub level: Level,
    /// The query as the client gave it (`/queries/{q}/query`).
    pub query: Keys,
    /// Each answer in Orthanc's full JSON form.
    pub answers: Vec<Value>,
    /// The AE title used to query, used again to retrieve.
    pub local_aet: String,
    /// The timeout given with the query, used again to retrieve.
    pub timeout: Option<u64>,
}

/// The queries of this node, newest last, at most `capacity`.
#[derive(Debug)]
pub struct QueryRegistry {
    capacity: usize,
    queries: Mutex<VecDeque<Arc<StoredQuery>>>,
}

impl QueryRegistry {
    pub fn new(capacity: usize) -> QueryRegistry {
        QueryRegistry {
            capacity: capacity.max(1),
            queries: Mutex::new(VecDeque::new()),
        }
    }

    /// Keeps a query and gives back its new identifier.
    pub fn add(&self, mut query: StoredQuery) -> String {
        let id = new_id();
        query.id = id.clone();
        let mut queries = self.queries.lock().unwrap_or_else(|e| e.into_inner());
        while queries.len() >= self.capacity {
            queries.pop_front();
        }
        queries.push_back(Arc::new(query));
        id
    }

    pub fn list(&self) -> Vec<String> {
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|q| q.id.clone())
            .collect()
    }

    pub fn get(&self, id: &str) -> Result<Arc<StoredQuery>> {
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|q| q.id == id)
            .cloned()
            .ok_or_else(|| ServiceError::UnknownQuery(id.to_owned()))
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        let mut queries = self.queries.lock().unwrap_or_else(|e| e.into_inner());
        let before = queries.len();
        queries.retain(|q| q.id != id);
        if queries.len() == before {
            return Err(ServiceError::UnknownQuery(id.to_owned()));
        }
        Ok(())
    }
}

/// A random identifier shaped like Orthanc's (a UUID v4).
fn new_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalisation_drops_foreign_keys_and_adds_identifying_ones() {
        let keys = parse_keys(
            json!({"PatientName": "A*", "Modality": "CT", "0008,0020": "2020-"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let study = find_identifier(Level::Study, &keys, true, "Generic");
        let tags: Vec<String> = study.iter().map(|(t, _)| t.format_comma()).collect();
        assert_eq!(
            tags,
            [
                "0008,0020",
                "0008,0050",
                "0010,0010",
                "0010,0020",
                "0020,000d"
            ]
        );
        let raw = find_identifier(Level::Study, &keys, false, "GE");
        assert!(raw
            .iter()
            .any(|(t, v)| *t == Tag(0x0008, 0x0060) && v == "CT"));
        assert!(raw.iter().any(|(t, v)| *t == STUDY_UID && v == "*"));
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(parse_keys(json!({"NoSuchTag": ""}).as_object().unwrap()).is_err());
        assert!(parse_keys(json!({"PatientName": 3}).as_object().unwrap()).is_err());
    }

    #[test]
    fn registry_is_bounded() {
        let registry = QueryRegistry::new(2);
        let mk = || StoredQuery {
            id: String::new(),
            modality: "m".into(),
            level: Level::Study,
            query: Keys::new(),
            answers: vec![],
            local_aet: "A".into(),
            timeout: None,
        };
        let first = registry.add(mk());
        let second = registry.add(mk());
        let third = registry.add(mk());
        assert_eq!(registry.list(), [second.clone(), third]);
        assert!(registry.get(&first).is_err());
        registry.remove(&second).unwrap();
        assert!(registry.remove(&second).is_err());
    }
}
