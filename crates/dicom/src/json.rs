//! Orthanc's JSON renderings of a data set (`FromDcmtkBridge::DatasetToJson`
//! and `Toolbox::SimplifyDicomAsJson`):
//! - [`full`] (`/instances/{id}/tags`): `{"gggg,eeee": {"Name", ["PrivateCreator"], "Type", "Value"}}`
//!   with Type `String`, `Null` (binary), `TooLong` (> 256 bytes) or `Sequence`;
//! - [`simplified`] (`/simplified-tags`, `?simplify`): `{Name: value}`, where a later tag
//!   overwrites an earlier one with the same name, as in Orthanc;
//! - [`short`] (`?short`): `{"gggg,eeee": value}`.
//!
//! The `header_*` variants render the file meta information (`/header`),
//! which Orthanc always decodes as ASCII. Keys come out sorted, as jsoncpp does.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json};

use super::charset::{Charset, Encoding};
use super::dictionary;
use super::model::{DataSet, DicomFile, Tag, Value, Vr};
use super::values::{self, Leaf, MAX_STRING_LENGTH};

/// `/instances/{id}/tags`, a file without (0008,0005) read as Latin1.
pub fn full(obj: &DicomFile) -> Json {
    full_with(obj, Encoding::Latin1)
}

/// `/instances/{id}/tags`, a file without (0008,0005) read in `default`
/// (Orthanc's `DefaultEncoding`).
pub fn full_with(obj: &DicomFile, default: Encoding) -> Json {
    full_ignoring_length(obj, default, &BTreeSet::new())
}

/// [`full_with`], with the values of `ignore_length` rendered however long
/// they are (Orthanc's `ignore-length` argument).
pub fn full_ignoring_length(
    obj: &DicomFile,
    default: Encoding,
    ignore_length: &BTreeSet<Tag>,
) -> Json {
    let top = DataSet {
        // Orthanc's StopAfterPixelData: top-level tags after (7FE0,0010) are left out
        elements: obj
            .dataset
            .elements
            .iter()
            .filter(|e| e.tag <= Tag::PIXEL_DATA)
            .cloned()
            .collect(),
    };
    dataset_full_with(&top, &Charset::of_or(&obj.dataset, default), ignore_length)
}

/// `/instances/{id}/simplified-tags` and `/tags?simplify`.
pub fn simplified(obj: &DicomFile) -> Json {
    simplify(&full(obj), false)
}

/// [`simplified`] with a default encoding ([`full_with`]).
pub fn simplified_with(obj: &DicomFile, default: Encoding) -> Json {
    simplify(&full_with(obj, default), false)
}

/// `/instances/{id}/tags?short`.
pub fn short(obj: &DicomFile) -> Json {
    simplify(&full(obj), true)
}

/// [`short`] with a default encoding ([`full_with`]).
pub fn short_with(obj: &DicomFile, default: Encoding) -> Json {
    simplify(&full_with(obj, default), true)
}

/// `/instances/{id}/header`.
pub fn header_full(obj: &DicomFile) -> Json {
    let meta = DataSet {
        // binary elements (e.g. FileMetaInformationVersion) are left out of /header
        elements: obj
            .meta
            .elements
            .iter()
            .filter(|e| !is_binary_vr(e.vr))
            .cloned()
            .collect(),
    };
    dataset_full(&meta, &HEADER_CHARSET)
}

/// `/instances/{id}/header?simplify`.
pub fn header_simplified(obj: &DicomFile) -> Json {
    simplify(&header_full(obj), false)
}

/// `/instances/{id}/header?short`.
pub fn header_short(obj: &DicomFile) -> Json {
    simplify(&header_full(obj), true)
}

/// Orthanc's `IsBinaryTag`: OB, OF, OW, UN.
fn is_binary_vr(vr: Vr) -> bool {
    matches!(&vr.0, b"OB" | b"OF" | b"OW" | b"UN")
}

const HEADER_CHARSET: Charset = Charset {
    encoding: Encoding::Ascii,
    code_extensions: false,
};

/// The full form of one data set (or sequence item).
pub fn dataset_full(ds: &DataSet, charset: &Charset) -> Json {
    dataset_full_with(ds, charset, &BTreeSet::new())
}

fn dataset_full_with(ds: &DataSet, charset: &Charset, ignore_length: &BTreeSet<Tag>) -> Json {
    let mut sorted: BTreeMap<Tag, Json> = BTreeMap::new();
    for el in &ds.elements {
        let creator = ds.private_creator(el.tag);
        let name = dictionary::tag_name(el.tag, creator.as_deref());
        let mut node = Map::new();
        node.insert("Name".into(), Json::from(name));
        match &el.value {
            Value::Sequence(items) => {
                node.insert("Type".into(), Json::from("Sequence"));
                let items = items
                    .iter()
                    .map(|item| dataset_full_with(item, charset, ignore_length))
                    .collect();
                node.insert("Value".into(), Json::Array(items));
            }
            _ => {
                if let Some(c) = &creator {
                    node.insert("PrivateCreator".into(), Json::from(c.as_str()));
                }
                let (ty, value) = match values::convert(el, creator.as_deref(), charset) {
                    Leaf::Null => ("Null", Json::Null),
                    Leaf::String(s)
                        if s.len() > MAX_STRING_LENGTH && !ignore_length.contains(&el.tag) =>
                    {
                        ("TooLong", Json::Null)
                    }
                    Leaf::String(s) => ("String", Json::String(s)),
                };
                node.insert("Type".into(), Json::from(ty));
                node.insert("Value".into(), value);
            }
        }
        sorted.insert(el.tag, Json::Object(node));
    }
    Json::Object(
        sorted
            .into_iter()
            .map(|(t, v)| (t.format_comma(), v))
            .collect(),
    )
}

/// `Toolbox::SimplifyDicomAsJson` from the full form: keys are names
/// (`by_tag == false`) or `gggg,eeee`.
pub fn simplify(full: &Json, by_tag: bool) -> Json {
    let mut out: BTreeMap<String, Json> = BTreeMap::new();
    if let Json::Object(members) = full {
        for (key, node) in members {
            let name = if by_tag {
                key.clone()
            } else {
                node.get("Name")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let value = match node.get("Type").and_then(Json::as_str) {
                Some("String") => node.get("Value").cloned().unwrap_or(Json::Null),
                Some("Sequence") => {
                    let items = node
                        .get("Value")
                        .and_then(Json::as_array)
                        .cloned()
                        .unwrap_or_default();
                    Json::Array(items.iter().map(|item| simplify(item, by_tag)).collect())
                }
                _ => Json::Null,
            };
            out.insert(name, value);
        }
    }
    Json::Object(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Element;

    #[test]
    fn renders_private_tags_and_sequences() {
        let leaf = |tag: Tag, vr: &[u8; 2], b: &[u8]| Element {
            tag,
            vr: Vr(*vr),
            value: Value::Bytes(b.to_vec()),
        };
        let item = DataSet {
            elements: vec![leaf(Tag(0x0010, 0x0020), b"LO", b"ID1 ")],
        };
        let ds = DataSet {
            elements: vec![
                leaf(Tag(0x0009, 0x0010), b"LO", b"GEMS_IDEN_01"),
                leaf(Tag(0x0009, 0x1001), b"LO", b"GE_GENESIS_FF "),
                Element {
                    tag: Tag(0x0010, 0x1002),
                    vr: Vr::SQ,
                    value: Value::Sequence(vec![item]),
                },
                leaf(Tag(0x7fe0, 0x0010), b"OW", &[0, 0]),
            ],
        };
        let full = dataset_full(&ds, &Charset::default());
        assert_eq!(
            full["0009,1001"],
            serde_json::json!({"Name": "FullFidelity", "PrivateCreator": "GEMS_IDEN_01", "Type": "String", "Value": "GE_GENESIS_FF"})
        );
        assert_eq!(full["7fe0,0010"]["Type"], "Null");
        let simple = simplify(&full, false);
        assert_eq!(simple["OtherPatientIDsSequence"][0]["PatientID"], "ID1");
        assert_eq!(simple["PixelData"], Json::Null);
        assert_eq!(simplify(&full, true)["0009,0010"], "GEMS_IDEN_01");
    }
}
