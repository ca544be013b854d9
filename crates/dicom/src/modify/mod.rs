//! DICOM modification with Orthanc's semantics (its `DicomModification::Apply`),
//! on files read and written with dicom-object:
//!
//! 1. the private tags are removed (top level, those in `keep` excepted);
//! 2. the tags of `remove` are removed (top level);
//! 3. the tags of `replace` are replaced, or inserted when absent, with the
//!    VR of the dictionary (text in the file's Specific Character Set, Latin-1
//!    without one, characters it cannot represent dropped as Orthanc's
//!    conversion does; ASCII only under ISO 2022 code extensions, which
//!    dicom-object cannot write);
//! 4. the UIDs at and below the modified level are regenerated, unless
//!    replaced or kept: StudyInstanceUID (patient, study), SeriesInstanceUID
//!    (down to series), SOPInstanceUID (always). One [`UidMap`] per
//!    modification gives every instance that shared an old UID the same new one.
//!
//! An anonymization ([`Modification::anonymization`], a profile of
//! [`profiles`]) also empties the tags of `clear` (step 1b) and maps its `U`
//! tags, PatientID and PatientName through the same map, at the top level and
//! inside sequences ([`walk`]); `Remove`/`Replace` paths into sequences
//! ([`path`]) are applied last, as Orthanc 1.9.4+ does.
//!
//! A new meta header is written (Isengard's implementation, the file's
//! transfer syntax, the new SOP instance UID) and the group lengths the file
//! has are recomputed, as DCMTK does; untouched elements keep their values
//! (sequences are written with undefined lengths). Which modifications are allowed (`Force`, levels) is the use
//! case's business (`service::modify`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine;
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Length, VR};
use dicom_encoding::text::{DefaultCharacterSetCodec, SpecificCharacterSet, TextCodec};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::dictionary;
use super::model::Tag;
use crate::Level;

pub mod path;
pub mod profiles;
mod walk;

pub use path::{Path, PathError};

pub const PATIENT_ID: Tag = Tag(0x0010, 0x0020);
pub const STUDY_INSTANCE_UID: Tag = Tag(0x0020, 0x000d);
pub const SERIES_INSTANCE_UID: Tag = Tag(0x0020, 0x000e);
pub const SOP_INSTANCE_UID: Tag = Tag(0x0008, 0x0018);
const SOP_CLASS_UID: Tag = Tag(0x0008, 0x0016);

/// Isengard's implementation class UID and version name, written in the meta
/// header of the files it creates (the DICOM edge uses the same ones).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.137927542377458917620932474103541720341";
pub const IMPLEMENTATION_VERSION_NAME: &str = "ISENGARD_0_1";

/// A replacement value, in the shapes of Orthanc's JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum NewValue {
    /// A string (JSON `null` is the empty string). For binary VRs, the bytes
    /// of the string, or those of a `data:...;base64,` URI.
    Text(String),
    /// A sequence: one set of replacements per item.
    Sequence(Vec<BTreeMap<Tag, NewValue>>),
}

/// What to do to each instance.
#[derive(Debug, Clone)]
pub struct Modification {
    /// The level of the modified resource: the UIDs at and below it are regenerated.
    pub level: Level,
    pub remove_private_tags: bool,
    pub remove: BTreeSet<Tag>,
    pub replace: BTreeMap<Tag, NewValue>,
    /// Private tags spared by `remove_private_tags`, and UIDs not regenerated.
    pub keep: BTreeSet<Tag>,
    /// The creator of inserted private tags whose block has none in the file.
    pub private_creator: String,
    /// Emptied where present (an anonymization's `Z`).
    pub clear: BTreeSet<Tag>,
    /// Removed inside sequences by an anonymization, besides `remove`:
    /// `(first group, last group, first element, last element)`.
    pub removed_ranges: Vec<(u16, u16, u16, u16)>,
    /// Mapped through the [`UidMap`] (an anonymization's `U`, and PatientID,
    /// PatientName unless replaced or kept).
    pub uids: BTreeSet<Tag>,
    /// Orthanc's relationships rules ([`walk`]): set by anonymizations.
    pub anonymization: bool,
    /// Paths whose contents an anonymization leaves alone (`Keep`).
    pub keep_paths: Vec<Path>,
    /// `Remove` entries inside sequences.
    pub remove_paths: Vec<Path>,
    /// `Replace` entries inside sequences.
    pub replace_paths: Vec<(Path, NewValue)>,
}

impl Modification {
    pub fn new(level: Level) -> Modification {
        Modification {
            level,
            remove_private_tags: false,
            remove: BTreeSet::new(),
            replace: BTreeMap::new(),
            keep: BTreeSet::new(),
            private_creator: String::new(),
            clear: BTreeSet::new(),
            removed_ranges: Vec::new(),
            uids: BTreeSet::new(),
            anonymization: false,
            keep_paths: Vec::new(),
            remove_paths: Vec::new(),
            replace_paths: Vec::new(),
        }
    }

    /// Orthanc's `IsRemoved`: listed, or in a removed range.
    pub fn is_removed(&self, tag: Tag) -> bool {
        self.remove.contains(&tag)
            || self
                .removed_ranges
                .iter()
                .any(|&(g0, g1, e0, e1)| (g0..=g1).contains(&tag.0) && (e0..=e1).contains(&tag.1))
    }
}

/// Old UID → new UID, per level, for the instances of one modification.
#[derive(Debug, Default)]
pub struct UidMap(HashMap<(Level, String), String>);

impl UidMap {
    /// The new value of `original` at `level` (spaces and padding ignored):
    /// a UID, or at the patient level (PatientID, PatientName) a UUID, as Orthanc.
    fn map(&mut self, level: Level, original: &str) -> String {
        let stripped = original.trim_matches([' ', '\0']).to_owned();
        self.0
            .entry((level, stripped))
            .or_insert_with(|| match level {
                Level::Patient => new_uuid(),
                _ => new_uid(),
            })
            .clone()
    }

    /// Records a replacement the request chose, unless one is already known.
    fn register(&mut self, level: Level, original: &str, mapped: &str) {
        let stripped = original.trim_matches([' ', '\0']).to_owned();
        self.0
            .entry((level, stripped))
            .or_insert_with(|| mapped.to_owned());
    }
}

/// A random (version 4) UUID, as Orthanc's `Toolbox::GenerateUuid`.
fn new_uuid() -> String {
    let b: [u8; 16] = rand::random();
    let mut b = b;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A new UID under the `2.25` arc (a random 128-bit number, PS3.5 B.2).
pub fn new_uid() -> String {
    format!("2.25.{}", rand::random::<u128>() >> 1)
}

/// Why a file could not be modified.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("cannot read the DICOM file to modify: {0}")]
    Read(String),
    /// A JSON value of the wrong kind for the tag (Orthanc: "Bad Parameter type").
    #[error("Bad Parameter type for tag {}", .0.format_comma())]
    BadType(Tag),
    /// A value the tag's VR cannot hold.
    #[error("While creating a DICOM instance, tag {tag} has out-of-range value: \"{value}\"")]
    OutOfRange { tag: Tag, value: String },
    #[error("cannot write the modified DICOM file: {0}")]
    Write(String),
}

fn dtag(t: Tag) -> dicom_core::Tag {
    dicom_core::Tag(t.0, t.1)
}

/// Applies `m` to one file; the answer is the whole modified file.
pub fn apply(bytes: &[u8], m: &Modification, uids: &mut UidMap) -> Result<Vec<u8>, RewriteError> {
    let (mut obj, transfer_syntax, original_class) = read(bytes)?;
    if m.anonymization {
        // References to the replaced UIDs follow the replacement.
        for (level, tag) in [
            (Level::Study, STUDY_INSTANCE_UID),
            (Level::Series, SERIES_INSTANCE_UID),
            (Level::Instance, SOP_INSTANCE_UID),
        ] {
            if let Some(NewValue::Text(mapped)) = m.replace.get(&tag) {
                let original = text(&obj, tag).unwrap_or_default();
                uids.register(level, &original, mapped);
            }
        }
    }
    if m.remove_private_tags {
        let private: Vec<_> = obj
            .tags()
            .filter(|t| {
                let t = Tag(t.0, t.1);
                t.is_private() && !m.keep.contains(&t)
            })
            .collect();
        for t in private {
            obj.remove_element(t);
        }
    }
    for tag in &m.clear {
        if let Some(vr) = obj.get(dtag(*tag)).map(|e| e.vr()) {
            obj.put(empty_element(*tag, vr));
        }
    }
    for tag in &m.remove {
        obj.remove_element(dtag(*tag));
    }
    // The Specific Character Set as the writer will see it (replaced first).
    if let Some(NewValue::Text(s)) = m.replace.get(&Tag::SPECIFIC_CHARACTER_SET) {
        let values: Vec<String> = s.split('\\').map(str::to_owned).collect();
        obj.put(DataElement::new(
            dtag(Tag::SPECIFIC_CHARACTER_SET),
            VR::CS,
            PrimitiveValue::Strs(values.into()),
        ));
    }
    let charset = Charset::of(&obj);
    for (tag, value) in &m.replace {
        let existing = obj.get(dtag(*tag)).map(|e| e.vr());
        let creator = private_creator(&obj, *tag).unwrap_or_else(|| m.private_creator.clone());
        let element = element(*tag, value, existing, &creator, &charset)?;
        obj.put(element);
    }
    for (level, tag) in [
        (Level::Study, STUDY_INSTANCE_UID),
        (Level::Series, SERIES_INSTANCE_UID),
        (Level::Instance, SOP_INSTANCE_UID),
    ] {
        if m.level <= level && !m.replace.contains_key(&tag) && !m.keep.contains(&tag) {
            let original = text(&obj, tag).unwrap_or_default();
            let new = uids.map(level, &original);
            obj.put(DataElement::new(
                dtag(tag),
                VR::UI,
                PrimitiveValue::from(new),
            ));
        }
    }
    if m.anonymization {
        walk::relationships(&mut obj, m, uids);
    }
    walk::remove_paths(&mut obj, &m.remove_paths);
    walk::replace_paths(&mut obj, &m.replace_paths, &m.private_creator, &charset)?;
    recompute_group_lengths(&mut obj, &transfer_syntax, &charset)?;
    write(obj, &transfer_syntax, original_class)
}

/// An element without value (an empty sequence for SQ), as DCMTK's `insertEmptyElement`.
fn empty_element(tag: Tag, vr: VR) -> DataElement<InMemDicomObject> {
    if vr == VR::SQ {
        DataElement::new(
            dtag(tag),
            VR::SQ,
            DataSetSequence::new(Vec::<InMemDicomObject>::new(), Length::UNDEFINED),
        )
    } else {
        DataElement::new(dtag(tag), vr, PrimitiveValue::Empty)
    }
}

/// DCMTK recalculates the group lengths (`gggg,0000`) a file has when it
/// writes it; so does this, with the encoding this module writes.
fn recompute_group_lengths(
    obj: &mut InMemDicomObject,
    transfer_syntax: &str,
    charset: &Charset,
) -> Result<(), RewriteError> {
    let groups: Vec<u16> = obj
        .tags()
        .filter(|t| t.element() == 0 && t.group() != 0x0002)
        .map(|t| t.group())
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    // A deflated data set's lengths are those of its inflated form.
    let uid = if transfer_syntax == super::reader::DEFLATED {
        super::reader::EXPLICIT_LITTLE
    } else {
        transfer_syntax
    };
    let ts = TransferSyntaxRegistry
        .get(uid)
        .ok_or_else(|| RewriteError::Write(format!("unknown transfer syntax {uid}")))?;
    for group in groups {
        let elements = obj
            .iter()
            .filter(|e| e.tag().group() == group && e.tag().element() != 0)
            .cloned();
        let part = InMemDicomObject::from_element_iter(elements);
        let mut encoded = Vec::new();
        part.write_dataset_with_ts_cs(&mut encoded, ts, charset.writer.clone())
            .map_err(|e| RewriteError::Write(e.to_string()))?;
        obj.put(DataElement::new(
            dicom_core::Tag(group, 0),
            VR::UL,
            PrimitiveValue::from(encoded.len() as u32),
        ));
    }
    Ok(())
}

/// The data set, its transfer syntax and the meta header's SOP class.
fn read(bytes: &[u8]) -> Result<(InMemDicomObject, String, Option<String>), RewriteError> {
    let bad = |e: &dyn std::fmt::Display| RewriteError::Read(e.to_string());
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        let file = OpenFileOptions::new()
            .read_preamble(ReadPreamble::Always)
            .from_reader(bytes)
            .map_err(|e| bad(&e))?;
        let ts = file
            .meta()
            .transfer_syntax()
            .trim_end_matches(['\0', ' '])
            .to_owned();
        let class = file
            .meta()
            .media_storage_sop_class_uid()
            .trim_end_matches(['\0', ' '])
            .to_owned();
        return Ok((file.into_inner(), ts, Some(class).filter(|c| !c.is_empty())));
    }
    // A bare data set (accepted at ingest without meta header).
    let ts = super::reader::detect_transfer_syntax(bytes);
    let registered = TransferSyntaxRegistry
        .get(ts)
        .ok_or_else(|| bad(&format!("unknown transfer syntax {ts}")))?;
    let obj = InMemDicomObject::read_dataset_with_ts(bytes, registered).map_err(|e| bad(&e))?;
    Ok((obj, ts.to_owned(), None))
}

fn write(
    obj: InMemDicomObject,
    transfer_syntax: &str,
    original_class: Option<String>,
) -> Result<Vec<u8>, RewriteError> {
    let class = text(&obj, SOP_CLASS_UID)
        .filter(|c| !c.is_empty())
        .or(original_class)
        .unwrap_or_default();
    let instance = text(&obj, SOP_INSTANCE_UID).unwrap_or_default();
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(transfer_syntax)
        .media_storage_sop_class_uid(class)
        .media_storage_sop_instance_uid(instance)
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION_NAME)
        .build()
        .map_err(|e| RewriteError::Write(e.to_string()))?;
    let mut out = Vec::new();
    obj.with_exact_meta(meta)
        .write_all(&mut out)
        .map_err(|e| RewriteError::Write(e.to_string()))?;
    Ok(out)
}

/// A top-level string value, without its padding.
fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let s = obj.get(dtag(tag))?.to_str().ok()?;
    Some(s.trim_end_matches(['\0', ' ']).to_owned())
}

/// How new text is encoded: the codec dicom-object's writer takes from the
/// Specific Character Set (its first value; Latin-1, Orthanc's default
/// encoding, when absent or unknown), and what new text may contain (ASCII
/// only under ISO 2022 code extensions, which dicom-object cannot write).
struct Charset {
    writer: SpecificCharacterSet,
    ascii_only: bool,
}

impl Charset {
    fn of(obj: &InMemDicomObject) -> Charset {
        let values: Vec<String> = match obj
            .get(dtag(Tag::SPECIFIC_CHARACTER_SET))
            .and_then(|e| e.value().to_multi_str().ok())
        {
            Some(v) => v.iter().map(|s| s.to_string()).collect(),
            None => Vec::new(),
        };
        let first = values.first().map(String::as_str).unwrap_or("");
        let writer = SpecificCharacterSet::from_code(first).unwrap_or_default();
        let extensions =
            values.len() > 1 || values.iter().any(|v| v.trim().starts_with("ISO 2022"));
        Charset {
            writer,
            ascii_only: extensions,
        }
    }

    /// Keeps what can be written (Orthanc's conversion skips the rest).
    fn representable(&self, text: &str) -> String {
        if self.ascii_only {
            return text.chars().filter(char::is_ascii).collect();
        }
        representable(text, &self.writer)
    }
}

/// The creator of a private element's block, as found in the file.
fn private_creator(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    if !tag.is_private() || tag.1 < 0x1000 {
        return None;
    }
    text(obj, Tag(tag.0, tag.1 >> 8)).filter(|c| !c.is_empty())
}

/// The VR of a new element: the dictionary's (with the block's creator for
/// private tags), else the one already in the file, else UN.
fn vr_of(tag: Tag, existing: Option<VR>, creator: &str) -> VR {
    let creator = (!creator.is_empty()).then_some(creator);
    match dictionary::lookup(tag, creator) {
        Some(entry) if entry.vr.bytes().all(|c| c.is_ascii_uppercase()) => {
            let b = entry.vr.as_bytes();
            VR::from_binary([b[0], b[1]]).or(existing).unwrap_or(VR::UN)
        }
        Some(entry) => existing.unwrap_or_else(|| {
            let vr = super::model::Vr::from_dictionary(entry.vr);
            VR::from_binary(vr.0).unwrap_or(VR::UN)
        }),
        None => existing.unwrap_or(VR::UN),
    }
}

/// Keeps the characters `codec` can encode (Orthanc's conversion skips the others).
fn representable(text: &str, codec: &dyn TextCodec) -> String {
    if codec.encode(text).is_ok() {
        return text.to_owned();
    }
    text.chars()
        .filter(|c| codec.encode(c.encode_utf8(&mut [0; 4])).is_ok())
        .collect()
}

fn element(
    tag: Tag,
    value: &NewValue,
    existing: Option<VR>,
    creator: &str,
    charset: &Charset,
) -> Result<DataElement<InMemDicomObject>, RewriteError> {
    let vr = vr_of(tag, existing, creator);
    let text = match (value, vr) {
        (NewValue::Sequence(items), VR::SQ) => {
            let mut objects = Vec::with_capacity(items.len());
            for item in items {
                let mut obj = InMemDicomObject::new_empty();
                for (t, v) in item {
                    obj.put(element(*t, v, None, creator, charset)?);
                }
                objects.push(obj);
            }
            return Ok(DataElement::new(
                dtag(tag),
                VR::SQ,
                DataSetSequence::new(objects, Length::UNDEFINED),
            ));
        }
        (NewValue::Sequence(_), _) => return Err(RewriteError::BadType(tag)),
        (NewValue::Text(t), _) => t,
    };
    let out_of_range = || RewriteError::OutOfRange {
        tag,
        value: text.clone(),
    };
    let value = match vr {
        VR::SQ => return Err(out_of_range()),
        VR::AE | VR::AS | VR::CS | VR::DA | VR::DS | VR::DT | VR::IS | VR::TM | VR::UI | VR::UR => {
            PrimitiveValue::from(representable(text, &DefaultCharacterSetCodec))
        }
        VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UT => {
            PrimitiveValue::from(charset.representable(text))
        }
        _ if text.is_empty() => PrimitiveValue::Empty,
        VR::US => PrimitiveValue::from(text.parse::<u16>().map_err(|_| out_of_range())?),
        VR::SS => PrimitiveValue::from(text.parse::<i16>().map_err(|_| out_of_range())?),
        VR::UL => PrimitiveValue::from(text.parse::<u32>().map_err(|_| out_of_range())?),
        VR::SL => PrimitiveValue::from(text.parse::<i32>().map_err(|_| out_of_range())?),
        VR::UV => PrimitiveValue::from(text.parse::<u64>().map_err(|_| out_of_range())?),
        VR::SV => PrimitiveValue::from(text.parse::<i64>().map_err(|_| out_of_range())?),
        VR::FL => PrimitiveValue::from(text.parse::<f32>().map_err(|_| out_of_range())?),
        VR::FD => PrimitiveValue::from(text.parse::<f64>().map_err(|_| out_of_range())?),
        VR::AT => {
            let t = Tag::parse(text).ok_or_else(out_of_range)?;
            PrimitiveValue::Tags(vec![dtag(t)].into())
        }
        // OB, OW, OD, OF, OL, OV, UN: the bytes themselves.
        _ => PrimitiveValue::from(binary(text)),
    };
    Ok(DataElement::new(dtag(tag), vr, value))
}

/// The bytes of a binary value: a decoded `data:<mime>;base64,` URI, or the
/// string's own bytes.
fn binary(text: &str) -> Vec<u8> {
    if let Some(rest) = text.strip_prefix("data:") {
        if let Some((_, encoded)) = rest.split_once(";base64,") {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) {
                return bytes;
            }
        }
    }
    text.as_bytes().to_vec()
}

#[cfg(test)]
mod tests;
