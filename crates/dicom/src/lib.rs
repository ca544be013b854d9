//! DICOM parsing, Orthanc identifiers, main tags and tag JSON, faithful to
//! Orthanc 1.10.1 (which sees files through DCMTK):
//! - [`parse`] reads the received bytes ([`reader`]) into a [`model::DicomFile`]
//!   tree of raw values, and extracts the Orthanc IDs and the main DICOM tags
//!   of the four levels;
//! - [`json`] renders a file as `/tags`, `/simplified-tags`, `?short`, `/header`;
//! - [`content()`] navigates `/instances/{id}/content/...`;
//! - [`dictionary`] holds DCMTK's tag names (generated, see ADR 002), [`charset`]
//!   Orthanc's Specific Character Set rules, [`values`] its leaf conversions.
//!
//! Checked against fixtures recorded from the reference Orthanc
//! (`scripts/record-orthanc-fixtures.py`, `node/tests/it/dicom_oracle.rs`).

pub mod charset;
pub mod content;
pub mod dicomdir;
pub mod dictionary;
#[allow(clippy::type_complexity)]
mod dictionary_data;
pub mod json;
mod level;
mod main_tags;
pub mod model;
pub mod modify;
pub mod modules;
pub mod reader;
pub mod values;
pub mod wildcard;

use sha1::{Digest, Sha1};

pub use content::{content, Content};
pub use level::{Level, MainTags};
pub use main_tags::{expected_number_of_instances, main_tag_definitions, MainTagDef};
pub use model::{DicomFile, Tag};

use charset::Charset;

/// Why bytes could not be accepted as a DICOM instance.
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    /// Not parseable as DICOM, or a required UID is present but empty.
    /// Orthanc: HTTP 400 "Bad file format" (OrthancStatus 15).
    #[error("Cannot parse an invalid DICOM file (size: {size} bytes)")]
    BadFileFormat { size: usize, reason: String },
    /// A required UID (StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID) is absent.
    /// Note: Orthanc 1.10.1 answers this with HTTP 404 "Inexistent tag" (OrthancStatus 21).
    #[error("missing tag {name} ({tag})")]
    MissingTag {
        name: &'static str,
        tag: &'static str,
    },
    /// For content paths: unknown tag / index out of range -> 404 "Inexistent tag".
    #[error("inexistent tag")]
    InexistentTag,
}

/// The Orthanc identifiers of an instance and its parents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceIds {
    pub patient: String,
    pub study: String,
    pub series: String,
    pub instance: String,
}

/// The Orthanc name of the tag a query key designates: a name (`PatientName`,
/// also `ModalitiesInStudy`) or a tag (`0010,0010`, `0010-0010`, `00100010`).
pub fn tag_name(key: &str) -> Option<String> {
    if key == "ModalitiesInStudy" {
        return Some(key.to_owned());
    }
    if let Some(tag) = Tag::parse(key) {
        let name = dictionary::tag_name(tag, None);
        return (name != dictionary::UNKNOWN_TAG_NAME).then(|| name.to_owned());
    }
    dictionary::find_by_name(key).map(|_| key.to_owned())
}

/// The level whose main tags include `name` (the highest such level).
pub fn main_tag_level(name: &str) -> Option<Level> {
    main_tag_definitions()
        .iter()
        .filter(|d| d.name == name)
        .map(|d| d.level)
        .min()
}

/// Orthanc's identifier of a string: SHA-1, lowercase hex, 5 groups of 8 joined by `-`.
pub fn orthanc_id(s: &str) -> String {
    let hex = hex::encode(Sha1::digest(s.as_bytes()));
    let groups: Vec<&str> = (0..5).map(|i| &hex[i * 8..i * 8 + 8]).collect();
    groups.join("-")
}

/// Orthanc's IDs (`DicomInstanceHasher`): SHA-1 of PatientID, PatientID|StudyUID,
/// PatientID|StudyUID|SeriesUID, PatientID|StudyUID|SeriesUID|SOPInstanceUID.
pub fn orthanc_ids(
    patient_id: &str,
    study_uid: &str,
    series_uid: &str,
    sop_uid: &str,
) -> ResourceIds {
    ResourceIds {
        patient: orthanc_id(patient_id),
        study: orthanc_id(&format!("{patient_id}|{study_uid}")),
        series: orthanc_id(&format!("{patient_id}|{study_uid}|{series_uid}")),
        instance: orthanc_id(&format!("{patient_id}|{study_uid}|{series_uid}|{sop_uid}")),
    }
}

/// A received file, parsed, with what the index needs.
#[derive(Debug, Clone)]
pub struct ParsedDicom {
    /// The data set and the meta header, as raw values.
    pub object: DicomFile,
    pub ids: ResourceIds,
    pub patient_tags: MainTags,
    pub study_tags: MainTags,
    pub series_tags: MainTags,
    pub instance_tags: MainTags,
    /// Orthanc's `TransferSyntax` metadata: declared in the meta header, or
    /// detected (files without meta header).
    pub transfer_syntax: String,
    /// Orthanc's `SopClassUid` metadata ("" when absent).
    pub sop_class_uid: String,
    /// Orthanc's `PixelDataOffset` metadata (not set for deflated files).
    pub pixel_data_offset: Option<u64>,
}

/// Parses bytes as received (with or without a 128-byte preamble + `DICM` +
/// meta group; implicit or explicit VR, big endian, deflated, encapsulated).
pub fn parse(bytes: &[u8]) -> Result<ParsedDicom, DicomError> {
    parse_with(bytes, charset::Encoding::Latin1)
}

/// [`parse`], the strings of a file without (0008,0005) read in `default`
/// (Orthanc's `DefaultEncoding`).
pub fn parse_with(bytes: &[u8], default: charset::Encoding) -> Result<ParsedDicom, DicomError> {
    let object = reader::read_file(bytes).map_err(|reason| DicomError::BadFileFormat {
        size: bytes.len(),
        reason,
    })?;
    let charset = Charset::of_or(&object.dataset, default);
    let summary = |tag: Tag| -> Option<String> {
        let el = object.dataset.get(tag)?;
        match values::convert(el, None, &charset) {
            values::Leaf::String(s) => Some(s),
            values::Leaf::Null => None,
        }
    };
    let required =
        |tag: Tag, name: &'static str, tag_str: &'static str| -> Result<String, DicomError> {
            if object.dataset.get(tag).is_none() {
                return Err(DicomError::MissingTag { name, tag: tag_str });
            }
            match summary(tag) {
                Some(s) if !s.is_empty() => Ok(s),
                _ => Err(DicomError::BadFileFormat {
                    size: bytes.len(),
                    reason: format!("empty {name}"),
                }),
            }
        };
    let patient_id = summary(Tag(0x0010, 0x0020)).unwrap_or_default();
    let study = required(Tag(0x0020, 0x000d), "StudyInstanceUID", "0020,000d")?;
    let series = required(Tag(0x0020, 0x000e), "SeriesInstanceUID", "0020,000e")?;
    let sop = required(Tag(0x0008, 0x0018), "SOPInstanceUID", "0008,0018")?;
    let ids = orthanc_ids(&patient_id, &study, &series, &sop);
    let [patient_tags, study_tags, series_tags, instance_tags] =
        main_tags::extract(&object.dataset, &charset);
    Ok(ParsedDicom {
        ids,
        patient_tags,
        study_tags,
        series_tags,
        instance_tags,
        transfer_syntax: object.transfer_syntax.clone(),
        sop_class_uid: summary(Tag(0x0008, 0x0016)).unwrap_or_default(),
        pixel_data_offset: object.pixel_data_offset,
        object,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthanc_id_is_grouped_sha1() {
        // sha1("") = da39a3ee5e6b4b0d3255bfef95601890afd80709
        assert_eq!(
            orthanc_id(""),
            "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709"
        );
        let id = orthanc_id("ABC");
        assert_eq!(id.len(), 44);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(orthanc_id("ABC"), orthanc_id("ABD"));
    }

    #[test]
    fn ids_chain_the_uids() {
        let ids = orthanc_ids("P", "1.2", "1.2.3", "1.2.3.4");
        assert_eq!(ids.patient, orthanc_id("P"));
        assert_eq!(ids.study, orthanc_id("P|1.2"));
        assert_eq!(ids.series, orthanc_id("P|1.2|1.2.3"));
        assert_eq!(ids.instance, orthanc_id("P|1.2|1.2.3|1.2.3.4"));
    }

    #[test]
    fn garbage_is_bad_file_format() {
        let err = parse(b"\x20\x08\x00\x05\x00CS\x0a\x00ISO").unwrap_err();
        assert!(
            matches!(err, DicomError::BadFileFormat { size: 12, .. }),
            "{err:?}"
        );
    }

    fn explicit_le(elements: &[(u16, u16, &[u8; 2], &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (g, e, vr, value) in elements {
            v.extend_from_slice(&g.to_le_bytes());
            v.extend_from_slice(&e.to_le_bytes());
            v.extend_from_slice(*vr);
            v.extend_from_slice(&(value.len() as u16).to_le_bytes());
            v.extend_from_slice(value);
        }
        v
    }

    #[test]
    fn dummy_ct_ids_are_sha1_of_the_uids() {
        let data = explicit_le(&[
            (0x0008, 0x0018, b"UI", b"1.2.3.4\0"),
            (0x0010, 0x0020, b"LO", b"P "),
            (0x0020, 0x000d, b"UI", b"1.2\0"),
            (0x0020, 0x000e, b"UI", b"1.2.3\0"),
        ]);
        let p = parse(&data).unwrap();
        // digests computed independently (python hashlib.sha1)
        assert_eq!(
            p.ids.patient,
            "511993d3-c99719e3-8a677907-3019dacd-7178ddb9"
        );
        assert_eq!(
            p.ids.instance,
            "45ee1518-507b741a-aab5bb28-d6831be1-d449663a"
        );
        assert_eq!(
            p.patient_tags.get("PatientID").map(String::as_str),
            Some("P")
        );
        assert_eq!(
            p.instance_tags.get("SOPInstanceUID").map(String::as_str),
            Some("1.2.3.4")
        );
    }

    #[test]
    fn empty_uid_is_bad_file_format() {
        let data = explicit_le(&[
            (0x0008, 0x0018, b"UI", b""),
            (0x0020, 0x000d, b"UI", b"1.2\0"),
            (0x0020, 0x000e, b"UI", b"1.2.3\0"),
        ]);
        assert!(matches!(
            parse(&data),
            Err(DicomError::BadFileFormat { .. })
        ));
    }

    #[test]
    fn missing_uid_is_reported() {
        // explicit VR little endian, no meta: only a PatientID
        let mut data = vec![0x10, 0x00, 0x20, 0x00, b'L', b'O', 2, 0];
        data.extend_from_slice(b"P1");
        let err = parse(&data).unwrap_err();
        assert!(
            matches!(
                err,
                DicomError::MissingTag {
                    name: "StudyInstanceUID",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
