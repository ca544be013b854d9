//! Navigation for `/instances/{id}/content/...`: path segments alternate a tag
//! (`gggg-eeee`, or `gggg,eeee`) and a sequence item index. A data set lists
//! its tags, a sequence its item indexes, a leaf answers its raw bytes.

use super::model::{DataSet, DicomFile, Tag, Value};
use super::DicomError;

/// What a content path designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// `gggg-eeee` keys of a data set or item, or `"0"`, `"1"`... of a sequence.
    Children(Vec<String>),
    /// The raw value of a leaf, as DCMTK writes it: numbers little endian,
    /// strings with their trailing padding normalized to even length.
    /// For encapsulated pixel data: the fragments, concatenated.
    Value(Vec<u8>),
}

/// Resolves `path` in the data set of `obj`.
pub fn content(obj: &DicomFile, path: &[&str]) -> Result<Content, DicomError> {
    let mut ds: &DataSet = &obj.dataset;
    let mut i = 0;
    loop {
        let Some(segment) = path.get(i) else {
            return Ok(Content::Children(
                ds.elements.iter().map(|e| e.tag.format_dash()).collect(),
            ));
        };
        // A tag or its name, as Orthanc's `FromDcmtkBridge::ParseTag`.
        let tag = Tag::parse(segment)
            .or_else(|| super::dictionary::find_by_name(segment))
            .ok_or(DicomError::InexistentTag)?;
        let el = ds.get(tag).ok_or(DicomError::InexistentTag)?;
        match &el.value {
            Value::Sequence(items) => match path.get(i + 1) {
                None => {
                    return Ok(Content::Children(
                        (0..items.len()).map(|n| n.to_string()).collect(),
                    ))
                }
                Some(index) => {
                    let n: usize = index.parse().map_err(|_| DicomError::InexistentTag)?;
                    ds = items.get(n).ok_or(DicomError::InexistentTag)?;
                    i += 2;
                }
            },
            Value::Bytes(b) if path.len() == i + 1 => {
                // strings as DCMTK writes them back: trailing padding removed,
                // then padded again to an even length
                let mut v = b.clone();
                if let Some(p) = el.vr.string_padding() {
                    v.truncate(trim_padding(b, p).len());
                    if v.len() % 2 == 1 {
                        v.push(p);
                    }
                }
                return Ok(Content::Value(v));
            }
            Value::Fragments(f) if path.len() == i + 1 => return Ok(Content::Value(f.concat())),
            _ => return Err(DicomError::InexistentTag),
        }
    }
}

fn trim_padding(b: &[u8], padding: u8) -> &[u8] {
    let mut end = b.len();
    while end > 0 && (b[end - 1] == padding || b[end - 1] == 0) {
        end -= 1;
    }
    &b[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Element, Vr};

    fn file() -> DicomFile {
        let leaf = |tag: Tag, b: &[u8]| Element {
            tag,
            vr: Vr(*b"LO"),
            value: Value::Bytes(b.to_vec()),
        };
        let item = DataSet {
            elements: vec![leaf(Tag(0x0010, 0x0020), b"ID1 ")],
        };
        let dataset = DataSet {
            elements: vec![
                leaf(Tag(0x0010, 0x0010), b"Doe^John"),
                Element {
                    tag: Tag(0x0010, 0x1002),
                    vr: Vr::SQ,
                    value: Value::Sequence(vec![item]),
                },
            ],
        };
        DicomFile {
            meta: DataSet::default(),
            dataset,
            transfer_syntax: String::new(),
            pixel_data_offset: None,
        }
    }

    #[test]
    fn navigates() {
        let f = file();
        assert_eq!(
            content(&f, &[]).unwrap(),
            Content::Children(vec!["0010-0010".into(), "0010-1002".into()])
        );
        assert_eq!(
            content(&f, &["0010-1002"]).unwrap(),
            Content::Children(vec!["0".into()])
        );
        assert_eq!(
            content(&f, &["0010-1002", "0"]).unwrap(),
            Content::Children(vec!["0010-0020".into()])
        );
        assert_eq!(
            content(&f, &["0010-1002", "0", "0010-0020"]).unwrap(),
            Content::Value(b"ID1 ".to_vec())
        );
        assert_eq!(
            content(&f, &["0010-0010"]).unwrap(),
            Content::Value(b"Doe^John".to_vec())
        );
        assert!(matches!(
            content(&f, &["0010-1002", "1"]),
            Err(DicomError::InexistentTag)
        ));
        assert!(matches!(
            content(&f, &["0010-0030"]),
            Err(DicomError::InexistentTag)
        ));
        assert!(matches!(
            content(&f, &["0010-0010", "0"]),
            Err(DicomError::InexistentTag)
        ));
        assert!(matches!(
            content(&f, &["nope"]),
            Err(DicomError::InexistentTag)
        ));
    }
}
