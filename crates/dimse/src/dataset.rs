//! Data sets on the wire: the file meta header Isengard writes in front of a
//! received C-STORE data set, the reverse (a stored file's data set without
//! its meta header, for C-STORE sub-operations), and identifiers (C-FIND,
//! C-MOVE, C-GET) encoded and decoded in a presentation context's transfer
//! syntax through dicom-object.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_encoding::text::SpecificCharacterSet;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::DatasetError;

/// Isengard's implementation class UID and version name (file meta header and
/// association negotiation).
pub use isengard_dicom::modify::{IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME};

/// What a file meta header says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileMeta {
    /// Offset of the data set in the file (0 without preamble + meta header).
    pub dataset_offset: usize,
    pub transfer_syntax: Option<String>,
    pub sop_class_uid: Option<String>,
    pub sop_instance_uid: Option<String>,
}

fn long_length(vr: &[u8]) -> bool {
    matches!(
        vr,
        b"OB"
            | b"OW"
            | b"OF"
            | b"SQ"
            | b"UT"
            | b"UN"
            | b"UC"
            | b"UR"
            | b"OD"
            | b"OL"
            | b"OV"
            | b"SV"
            | b"UV"
    )
}

fn uid_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches(['\0', ' '])
        .trim()
        .to_owned()
}

/// Reads the meta header of a stored file (explicit VR little endian group 2).
pub fn split_meta(file: &[u8]) -> FileMeta {
    let mut meta = FileMeta::default();
    if file.len() < 132 || &file[128..132] != b"DICM" {
        return meta;
    }
    let mut pos = 132;
    while pos + 8 <= file.len() && u16::from_le_bytes([file[pos], file[pos + 1]]) == 0x0002 {
        let element = u16::from_le_bytes([file[pos + 2], file[pos + 3]]);
        let vr = &file[pos + 4..pos + 6];
        let (len, header) = if long_length(vr) {
            if pos + 12 > file.len() {
                break;
            }
            (
                u32::from_le_bytes(file[pos + 8..pos + 12].try_into().unwrap()) as usize,
                12,
            )
        } else {
            (
                u16::from_le_bytes([file[pos + 6], file[pos + 7]]) as usize,
                8,
            )
        };
        let Some(end) = (pos + header).checked_add(len).filter(|&e| e <= file.len()) else {
            break;
        };
        let value = &file[pos + header..end];
        match element {
            0x0002 => meta.sop_class_uid = Some(uid_text(value)),
            0x0003 => meta.sop_instance_uid = Some(uid_text(value)),
            0x0010 => meta.transfer_syntax = Some(uid_text(value)),
            _ => {}
        }
        pos = end;
    }
    meta.dataset_offset = pos;
    meta
}

fn push_element(out: &mut Vec<u8>, element: u16, vr: &[u8; 2], value: &[u8], pad: u8) {
    let mut v = value.to_vec();
    if v.len() % 2 == 1 {
        v.push(pad);
    }
    out.extend_from_slice(&0x0002u16.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(vr);
    if vr == b"OB" {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(v.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(&v);
}

/// A DICOM file: preamble, `DICM`, a meta header (Isengard's implementation,
/// the negotiated transfer syntax, the sender's AE title) and the data set
/// bytes as received.
pub fn build_file(
    sop_class: &str,
    sop_instance: &str,
    transfer_syntax: &str,
    source_aet: &str,
    dataset: &[u8],
) -> Vec<u8> {
    let mut group = Vec::with_capacity(256);
    push_element(&mut group, 0x0001, b"OB", &[0, 1], 0);
    push_element(&mut group, 0x0002, b"UI", sop_class.as_bytes(), 0);
    push_element(&mut group, 0x0003, b"UI", sop_instance.as_bytes(), 0);
    push_element(&mut group, 0x0010, b"UI", transfer_syntax.as_bytes(), 0);
    push_element(
        &mut group,
        0x0012,
        b"UI",
        IMPLEMENTATION_CLASS_UID.as_bytes(),
        0,
    );
    push_element(
        &mut group,
        0x0013,
        b"SH",
        IMPLEMENTATION_VERSION_NAME.as_bytes(),
        b' ',
    );
    if !source_aet.is_empty() {
        push_element(
            &mut group,
            0x0016,
            b"AE",
            source_aet.trim().as_bytes(),
            b' ',
        );
    }
    let mut out = Vec::with_capacity(132 + 12 + group.len() + dataset.len());
    out.extend_from_slice(&[0u8; 128]);
    out.extend_from_slice(b"DICM");
    out.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
    out.extend_from_slice(&(group.len() as u32).to_le_bytes());
    out.extend_from_slice(&group);
    out.extend_from_slice(dataset);
    out
}

fn registry_ts(uid: &str) -> Result<&'static dicom_encoding::TransferSyntax, DatasetError> {
    let uid = uid.trim_end_matches(['\0', ' ']);
    TransferSyntaxRegistry
        .get(uid)
        .ok_or_else(|| DatasetError::Malformed(format!("unknown transfer syntax {uid}")))
}

/// Decodes an identifier (C-FIND/C-MOVE/C-GET data set).
pub fn decode_identifier(
    bytes: &[u8],
    transfer_syntax: &str,
) -> Result<InMemDicomObject, DatasetError> {
    let ts = registry_ts(transfer_syntax)?;
    InMemDicomObject::read_dataset_with_ts(bytes, ts)
        .map_err(|e| DatasetError::Malformed(format!("cannot decode the identifier: {e}")))
}

/// Encodes an identifier; text is written as UTF-8 (`ISO_IR 192`).
pub fn encode_identifier(
    obj: &InMemDicomObject,
    transfer_syntax: &str,
) -> Result<Vec<u8>, DatasetError> {
    let ts = registry_ts(transfer_syntax)?;
    let mut out = Vec::new();
    obj.write_dataset_with_ts_cs(&mut out, ts, SpecificCharacterSet::ISO_IR_192)
        .map_err(|e| DatasetError::Malformed(format!("cannot encode the identifier: {e}")))?;
    Ok(out)
}

/// Re-encodes a data set between native (uncompressed) transfer syntaxes.
pub fn transcode_native(bytes: &[u8], from: &str, to: &str) -> Result<Vec<u8>, DatasetError> {
    let native = [
        super::uids::IMPLICIT_LE,
        super::uids::EXPLICIT_LE,
        super::uids::EXPLICIT_BE,
    ];
    if from == to {
        return Ok(bytes.to_vec());
    }
    if !native.contains(&from) || !native.contains(&to) {
        return Err(DatasetError::Unsupported(format!(
            "cannot transcode {from} to {to}"
        )));
    }
    let obj = InMemDicomObject::read_dataset_with_ts(bytes, registry_ts(from)?)
        .map_err(|e| DatasetError::Malformed(format!("cannot decode the data set: {e}")))?;
    let mut out = Vec::with_capacity(bytes.len());
    obj.write_dataset_with_ts(&mut out, registry_ts(to)?)
        .map_err(|e| DatasetError::Unsupported(format!("cannot encode the data set: {e}")))?;
    Ok(out)
}

/// The VR of a public tag (DCMTK's dictionary as Orthanc uses it); `LO` for
/// unknown or ambiguous (`xs`, `ox`) entries.
pub fn vr_of(tag: Tag) -> VR {
    let entry = isengard_dicom::dictionary::lookup(isengard_dicom::Tag(tag.0, tag.1), None);
    entry
        .and_then(|e| e.vr.parse::<VR>().ok())
        .unwrap_or(VR::LO)
}

/// A text element with the dictionary VR.
pub fn text_element(tag: Tag, value: &str) -> DataElement<InMemDicomObject> {
    let vr = vr_of(tag);
    let value = match vr {
        VR::US => value
            .trim()
            .parse::<u16>()
            .map(PrimitiveValue::from)
            .unwrap_or(PrimitiveValue::Empty),
        VR::UL => value
            .trim()
            .parse::<u32>()
            .map(PrimitiveValue::from)
            .unwrap_or(PrimitiveValue::Empty),
        _ if value.is_empty() => PrimitiveValue::Empty,
        _ => PrimitiveValue::from(value),
    };
    DataElement::new(tag, vr, value)
}

/// The text of a top-level element ("" for absent or non-text values);
/// multiple values joined by `\`.
pub fn element_text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.get(tag)?;
    if matches!(e.vr(), VR::SQ) {
        return Some(String::new());
    }
    let text = e
        .value()
        .to_multi_str()
        .map(|v| v.join("\\"))
        .unwrap_or_default();
    Some(text.trim_end_matches(['\0', ' ']).trim_start().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_files_read_back() {
        let ds = [
            0x08, 0x00, 0x18, 0x00, b'U', b'I', 4, 0, b'1', b'.', b'2', 0,
        ];
        let file = build_file("1.2.3", "1.2", "1.2.840.10008.1.2.1", "MODALITY", &ds);
        let meta = split_meta(&file);
        assert_eq!(meta.transfer_syntax.as_deref(), Some("1.2.840.10008.1.2.1"));
        assert_eq!(meta.sop_class_uid.as_deref(), Some("1.2.3"));
        assert_eq!(meta.sop_instance_uid.as_deref(), Some("1.2"));
        assert_eq!(&file[meta.dataset_offset..], &ds);
        let parsed = isengard_dicom::reader::read_file(&file).unwrap();
        assert_eq!(parsed.transfer_syntax, "1.2.840.10008.1.2.1");
        assert!(split_meta(&ds).dataset_offset == 0);
    }

    #[test]
    fn identifiers_round_trip() {
        let mut obj = InMemDicomObject::new_empty();
        obj.put(text_element(Tag(0x0008, 0x0052), "STUDY"));
        obj.put(text_element(Tag(0x0010, 0x0010), "Doe*"));
        obj.put(text_element(Tag(0x0020, 0x000d), ""));
        for ts in ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"] {
            let bytes = encode_identifier(&obj, ts).unwrap();
            let back = decode_identifier(&bytes, ts).unwrap();
            assert_eq!(
                element_text(&back, Tag(0x0010, 0x0010)).as_deref(),
                Some("Doe*")
            );
            assert_eq!(
                element_text(&back, Tag(0x0020, 0x000d)).as_deref(),
                Some("")
            );
        }
    }
}
