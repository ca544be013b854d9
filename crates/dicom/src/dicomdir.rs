//! DICOMDIR files (PS3.10 Basic Directory, PS3.3 F.5) as Orthanc 1.10.1's
//! `DicomDirWriter` makes them through DCMTK: one record per patient, study,
//! series and image, keyed by PatientID and the UIDs, in the order the files
//! were added; the attributes DCMTK's `DicomDirInterface` copies (types 1, 1C
//! and 2), plus `SeriesDescription` in the *extended* flavour; values
//! converted to UTF-8 from the file's character set and then to printable
//! ASCII (as Orthanc does), the file's `SpecificCharacterSet` kept.
//!
//! Written by hand (ADR 007): dicom-rs has no DICOMDIR writer, and the record
//! offsets need the byte position of every item, which a generic encoder does
//! not report. The encoding is fixed: Explicit VR Little Endian, items and the
//! sequence of undefined length, as DCMTK writes them.

use std::collections::HashMap;

use crate::charset::{to_ascii, Charset};
use crate::model::{DataSet, DicomFile, Tag};
use crate::modify::{new_uid, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME};
use crate::values::{self, Leaf};

const MEDIA_STORAGE_DIRECTORY: &str = "1.2.840.10008.1.3.10";
const EXPLICIT_LITTLE: &str = "1.2.840.10008.1.2.1";
/// Orthanc's File-set ID.
const FILE_SET_ID: &str = "ORTHANC_MEDIA";
/// Preamble, `DICM`, and the group length element of the meta header.
const META_PREFIX: usize = 128 + 4 + 12;

/// Why a file cannot be listed in a DICOMDIR (Orthanc: "Bad file format").
#[derive(Debug, thiserror::Error)]
pub enum DicomDirError {
    #[error("cannot list a file without {0} in a DICOMDIR")]
    Missing(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Patient,
    Study,
    Series,
    Image,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Patient => "PATIENT",
            Kind::Study => "STUDY",
            Kind::Series => "SERIES",
            Kind::Image => "IMAGE",
        }
    }
}

/// One element of a record: tag, VR and the (unpadded) value.
type Attr = (Tag, [u8; 2], String);

#[derive(Debug)]
struct Record {
    kind: Kind,
    attrs: Vec<Attr>,
    children: Vec<usize>,
}

/// A DICOMDIR being built: [`DicomDir::add`] each file, then [`DicomDir::encode`].
#[derive(Debug, Default)]
pub struct DicomDir {
    extended: bool,
    records: Vec<Record>,
    roots: Vec<usize>,
    index: HashMap<(Kind, String), usize>,
}

/// The values of one data set, as Orthanc's `DicomDirWriter` reads them.
struct Source<'a> {
    ds: &'a DataSet,
    charset: Charset,
}

impl Source<'_> {
    /// The value as UTF-8 (`""` for an empty one); `None` when absent or not a string.
    fn utf8(&self, tag: Tag) -> Option<String> {
        let el = self.ds.get(tag)?;
        match values::convert(el, None, &self.charset) {
            Leaf::String(s) => Some(s),
            Leaf::Null => None,
        }
    }

    fn has_value(&self, tag: Tag) -> bool {
        self.ds
            .get(tag)
            .and_then(|e| e.bytes())
            .is_some_and(|b| !b.is_empty())
    }

    /// Orthanc's `CopyString`: type 1 and 2 always written (empty when
    /// absent), 1C only with a value, 3 when present.
    fn copy(&self, out: &mut Vec<Attr>, tag: Tag, vr: &[u8; 2], optional: bool, copy_empty: bool) {
        if optional && !self.has_value(tag) && !(copy_empty && self.ds.get(tag).is_some()) {
            return;
        }
        out.push((tag, *vr, self.utf8(tag).unwrap_or_default()));
    }

    fn type1(&self, out: &mut Vec<Attr>, tag: Tag, vr: &[u8; 2]) {
        self.copy(out, tag, vr, false, false)
    }
    fn type1c(&self, out: &mut Vec<Attr>, tag: Tag, vr: &[u8; 2]) {
        self.copy(out, tag, vr, true, false)
    }
    fn type2(&self, out: &mut Vec<Attr>, tag: Tag, vr: &[u8; 2]) {
        self.copy(out, tag, vr, false, true)
    }
    fn type3(&self, out: &mut Vec<Attr>, tag: Tag, vr: &[u8; 2]) {
        self.copy(out, tag, vr, true, true)
    }

    /// The first of `tags` present, else `fallback`.
    fn first_of(&self, tags: &[Tag], fallback: String) -> String {
        tags.iter().find_map(|&t| self.utf8(t)).unwrap_or(fallback)
    }
}

const PATIENT_ID: Tag = Tag(0x0010, 0x0020);
const STUDY_UID: Tag = Tag(0x0020, 0x000d);
const SERIES_UID: Tag = Tag(0x0020, 0x000e);
const SOP_UID: Tag = Tag(0x0008, 0x0018);
const SOP_CLASS: Tag = Tag(0x0008, 0x0016);
const TRANSFER_SYNTAX: Tag = Tag(0x0002, 0x0010);

impl DicomDir {
    /// `extended`: also `SeriesDescription` (a Standard Extended SOP Class, as
    /// `?extended` and `/tools/create-media-extended` ask).
    pub fn new(extended: bool) -> DicomDir {
        DicomDir {
            extended,
            ..DicomDir::default()
        }
    }

    /// Lists `file`, stored on the medium at `path` (components joined by `\`).
    pub fn add(&mut self, path: &str, file: &DicomFile) -> Result<(), DicomDirError> {
        let src = Source {
            ds: &file.dataset,
            charset: Charset::of(&file.dataset),
        };
        let uid = |tag, name| src.utf8(tag).ok_or(DicomDirError::Missing(name));
        let sop = uid(SOP_UID, "SOPInstanceUID")?;
        let series_uid = uid(SERIES_UID, "SeriesInstanceUID")?;
        let study_uid = uid(STUDY_UID, "StudyInstanceUID")?;
        uid(SOP_CLASS, "SOPClassUID")?;
        let Some(image) = self.create(Kind::Image, sop, &src, file, path)? else {
            return Ok(());
        };
        let (series, new_series) =
            self.get_or_create(Kind::Series, series_uid, &src, file, path)?;
        self.records[series].children.push(image);
        if !new_series {
            return Ok(());
        }
        let (study, new_study) = self.get_or_create(Kind::Study, study_uid, &src, file, path)?;
        self.records[study].children.push(series);
        if !new_study {
            return Ok(());
        }
        // Orthanc tolerates a missing PatientID (its issue 124).
        let patient_id = src.utf8(PATIENT_ID).unwrap_or_default();
        let (patient, new_patient) =
            self.get_or_create(Kind::Patient, patient_id, &src, file, path)?;
        self.records[patient].children.push(study);
        if new_patient {
            self.roots.push(patient);
        }
        Ok(())
    }

    fn get_or_create(
        &mut self,
        kind: Kind,
        key: String,
        src: &Source<'_>,
        file: &DicomFile,
        path: &str,
    ) -> Result<(usize, bool), DicomDirError> {
        if let Some(&i) = self.index.get(&(kind, key.clone())) {
            return Ok((i, false));
        }
        let created = self.create(kind, key, src, file, path)?;
        Ok((created.expect("absent from the index"), true))
    }

    /// A new record, or `None` if one with this key exists.
    fn create(
        &mut self,
        kind: Kind,
        key: String,
        src: &Source<'_>,
        file: &DicomFile,
        path: &str,
    ) -> Result<Option<usize>, DicomDirError> {
        if self.index.contains_key(&(kind, key.clone())) {
            return Ok(None);
        }
        let mut attrs = Vec::new();
        match kind {
            Kind::Patient => {
                src.type1c(&mut attrs, PATIENT_ID, b"LO");
                src.type2(&mut attrs, Tag(0x0010, 0x0010), b"PN");
            }
            Kind::Study => self.fill_study(&mut attrs, src),
            Kind::Series => {
                src.type1(&mut attrs, Tag(0x0008, 0x0060), b"CS");
                src.type1(&mut attrs, SERIES_UID, b"UI");
                src.type1c(&mut attrs, Tag(0x0020, 0x0011), b"IS");
                if self.extended {
                    src.type3(&mut attrs, Tag(0x0008, 0x103e), b"LO");
                }
            }
            Kind::Image => {
                src.type1(&mut attrs, Tag(0x0020, 0x0013), b"IS");
                let class = src
                    .utf8(SOP_CLASS)
                    .ok_or(DicomDirError::Missing("SOPClassUID"))?;
                let meta = Source {
                    ds: &file.meta,
                    charset: Charset::default(),
                };
                let syntax = meta
                    .utf8(TRANSFER_SYNTAX)
                    .unwrap_or_else(|| file.transfer_syntax.clone());
                if syntax.is_empty() {
                    return Err(DicomDirError::Missing("TransferSyntaxUID"));
                }
                attrs.push((Tag(0x0004, 0x1500), *b"CS", path.to_owned()));
                attrs.push((Tag(0x0004, 0x1510), *b"UI", class));
                attrs.push((Tag(0x0004, 0x1511), *b"UI", key.clone()));
                attrs.push((Tag(0x0004, 0x1512), *b"UI", syntax));
            }
        }
        src.type1c(&mut attrs, Tag::SPECIFIC_CHARACTER_SET, b"CS");
        for attr in &mut attrs {
            attr.2 = to_ascii(attr.2.as_bytes());
        }
        attrs.sort_by_key(|a| a.0);
        let i = self.records.len();
        self.records.push(Record {
            kind,
            attrs,
            children: Vec::new(),
        });
        self.index.insert((kind, key), i);
        Ok(Some(i))
    }

    fn fill_study(&self, attrs: &mut Vec<Attr>, src: &Source<'_>) {
        let now = chrono::Utc::now();
        let date = src.first_of(
            &[
                Tag(0x0008, 0x0020),
                Tag(0x0008, 0x0021),
                Tag(0x0008, 0x0022),
                Tag(0x0008, 0x0023),
            ],
            now.format("%Y%m%d").to_string(),
        );
        let time = src.first_of(
            &[
                Tag(0x0008, 0x0030),
                Tag(0x0008, 0x0031),
                Tag(0x0008, 0x0032),
                Tag(0x0008, 0x0033),
            ],
            now.format("%H%M%S").to_string(),
        );
        attrs.push((Tag(0x0008, 0x0020), *b"DA", date));
        attrs.push((Tag(0x0008, 0x0030), *b"TM", time));
        src.type2(attrs, Tag(0x0008, 0x1030), b"LO");
        src.type1(attrs, STUDY_UID, b"UI");
        src.type1c(attrs, Tag(0x0020, 0x0010), b"SH");
        src.type2(attrs, Tag(0x0008, 0x0050), b"SH");
    }

    /// The records in the order of the Directory Record Sequence (depth first).
    fn preorder(&self) -> Vec<usize> {
        fn walk(dir: &DicomDir, i: usize, out: &mut Vec<usize>) {
            out.push(i);
            for &c in &dir.records[i].children {
                walk(dir, c, out);
            }
        }
        let mut out = Vec::with_capacity(self.records.len());
        for &r in &self.roots {
            walk(self, r, &mut out);
        }
        out
    }

    /// The DICOMDIR file: preamble, meta header, and the directory.
    pub fn encode(&self) -> Vec<u8> {
        let mut meta = Vec::new();
        element(&mut meta, Tag(0x0002, 0x0001), b"OB", &[0, 1]);
        string(
            &mut meta,
            Tag(0x0002, 0x0002),
            b"UI",
            MEDIA_STORAGE_DIRECTORY,
        );
        string(&mut meta, Tag(0x0002, 0x0003), b"UI", &new_uid());
        string(&mut meta, Tag(0x0002, 0x0010), b"UI", EXPLICIT_LITTLE);
        string(
            &mut meta,
            Tag(0x0002, 0x0012),
            b"UI",
            IMPLEMENTATION_CLASS_UID,
        );
        string(
            &mut meta,
            Tag(0x0002, 0x0013),
            b"SH",
            IMPLEMENTATION_VERSION_NAME,
        );

        // Where each record starts: after the meta header, the four leading
        // elements of the data set and the sequence's header.
        let order = self.preorder();
        let header = {
            let mut h = Vec::new();
            string(&mut h, Tag(0x0004, 0x1130), b"CS", FILE_SET_ID);
            h.len() + 12 + 12 + 10 + 12
        };
        let mut offset = vec![0u32; self.records.len()];
        let mut at = META_PREFIX + meta.len() + header;
        for &i in &order {
            offset[i] = at as u32;
            at += self.record_len(i);
        }
        let first = |list: &[usize]| list.first().map_or(0, |&i| offset[i]);
        let last = |list: &[usize]| list.last().map_or(0, |&i| offset[i]);
        let mut next = vec![0u32; self.records.len()];
        let siblings = std::iter::once(&self.roots).chain(self.records.iter().map(|r| &r.children));
        for list in siblings {
            for pair in list.windows(2) {
                next[pair[0]] = offset[pair[1]];
            }
        }

        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        element(
            &mut out,
            Tag(0x0002, 0x0000),
            b"UL",
            &(meta.len() as u32).to_le_bytes(),
        );
        out.extend_from_slice(&meta);
        string(&mut out, Tag(0x0004, 0x1130), b"CS", FILE_SET_ID);
        element(
            &mut out,
            Tag(0x0004, 0x1200),
            b"UL",
            &first(&self.roots).to_le_bytes(),
        );
        element(
            &mut out,
            Tag(0x0004, 0x1202),
            b"UL",
            &last(&self.roots).to_le_bytes(),
        );
        element(&mut out, Tag(0x0004, 0x1212), b"US", &0u16.to_le_bytes());
        tag(&mut out, Tag(0x0004, 0x1220));
        out.extend_from_slice(b"SQ\0\0");
        out.extend_from_slice(&u32::MAX.to_le_bytes());
        for &i in &order {
            debug_assert_eq!(out.len(), offset[i] as usize);
            let record = &self.records[i];
            tag(&mut out, Tag::ITEM);
            out.extend_from_slice(&u32::MAX.to_le_bytes());
            element(&mut out, Tag(0x0004, 0x1400), b"UL", &next[i].to_le_bytes());
            element(
                &mut out,
                Tag(0x0004, 0x1410),
                b"US",
                &0xffffu16.to_le_bytes(),
            );
            element(
                &mut out,
                Tag(0x0004, 0x1420),
                b"UL",
                &first(&record.children).to_le_bytes(),
            );
            string(&mut out, Tag(0x0004, 0x1430), b"CS", record.kind.name());
            for (t, vr, value) in &record.attrs {
                string(&mut out, *t, vr, value);
            }
            tag(&mut out, Tag::ITEM_DELIMITATION);
            out.extend_from_slice(&0u32.to_le_bytes());
        }
        tag(&mut out, Tag::SEQUENCE_DELIMITATION);
        out.extend_from_slice(&0u32.to_le_bytes());
        out
    }

    /// The encoded length of record `i`, its item header and delimiter included.
    fn record_len(&self, i: usize) -> usize {
        let record = &self.records[i];
        let fixed = 8 + 12 + 10 + 12 + string_len(record.kind.name()) + 8;
        fixed + record.attrs.iter().map(|a| string_len(&a.2)).sum::<usize>()
    }
}

/// An element with a short (2-byte) length: 8 bytes of header, the value padded to even.
fn string_len(value: &str) -> usize {
    8 + value.len() + value.len() % 2
}

fn tag(out: &mut Vec<u8>, t: Tag) {
    out.extend_from_slice(&t.0.to_le_bytes());
    out.extend_from_slice(&t.1.to_le_bytes());
}

/// An element of a VR with a 2-byte length (OB has a 4-byte one).
fn element(out: &mut Vec<u8>, t: Tag, vr: &[u8; 2], value: &[u8]) {
    tag(out, t);
    out.extend_from_slice(vr);
    if vr == b"OB" {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(value);
}

/// A string element padded to even length: UIs with NUL, others with a space.
fn string(out: &mut Vec<u8>, t: Tag, vr: &[u8; 2], value: &str) {
    let mut bytes = value.as_bytes().to_vec();
    if bytes.len() % 2 == 1 {
        bytes.push(if vr == b"UI" { 0 } else { b' ' });
    }
    element(out, t, vr, &bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::read_file;

    fn file(tags: &[(Tag, &[u8; 2], &str)]) -> DicomFile {
        let mut ds = Vec::new();
        for (t, vr, v) in tags {
            string(&mut ds, *t, vr, v);
        }
        let mut meta = Vec::new();
        string(&mut meta, TRANSFER_SYNTAX, b"UI", EXPLICIT_LITTLE);
        let mut bytes = vec![0u8; 128];
        bytes.extend_from_slice(b"DICM");
        element(
            &mut bytes,
            Tag(0x0002, 0x0000),
            b"UL",
            &(meta.len() as u32).to_le_bytes(),
        );
        bytes.extend_from_slice(&meta);
        bytes.extend_from_slice(&ds);
        read_file(&bytes).unwrap()
    }

    fn instance(patient: &str, study: &str, series: &str, sop: &str) -> DicomFile {
        file(&[
            (Tag(0x0008, 0x0005), b"CS", "ISO_IR 100"),
            (SOP_CLASS, b"UI", "1.2.840.10008.5.1.4.1.1.2"),
            (SOP_UID, b"UI", sop),
            (Tag(0x0008, 0x0060), b"CS", "CT"),
            (Tag(0x0008, 0x1030), b"LO", "Caf\u{e9}"),
            (Tag(0x0008, 0x103e), b"LO", "Desc"),
            (Tag(0x0010, 0x0010), b"PN", "Doe^John"),
            (PATIENT_ID, b"LO", patient),
            (STUDY_UID, b"UI", study),
            (SERIES_UID, b"UI", series),
        ])
    }

    #[test]
    fn records_nest_and_offsets_point_at_items() {
        let mut dir = DicomDir::new(true);
        dir.add("IMAGES\\IM0", &instance("P1", "1.1", "1.1.1", "1.1.1.1"))
            .unwrap();
        dir.add("IMAGES\\IM1", &instance("P1", "1.1", "1.1.2", "1.1.2.1"))
            .unwrap();
        dir.add("IMAGES\\IM2", &instance("P2", "1.2", "1.2.1", "1.2.1.1"))
            .unwrap();
        let bytes = dir.encode();
        let parsed = read_file(&bytes).unwrap();
        assert_eq!(dir.roots.len(), 2);
        let kinds: Vec<_> = dir
            .preorder()
            .iter()
            .map(|&i| dir.records[i].kind)
            .collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [Patient, Study, Series, Image, Series, Image, Patient, Study, Series, Image]
        );
        // Every offset names the first byte of an item tag.
        let first = parsed
            .dataset
            .get(Tag(0x0004, 0x1200))
            .unwrap()
            .bytes()
            .unwrap();
        let at = u32::from_le_bytes(first.try_into().unwrap()) as usize;
        assert_eq!(&bytes[at..at + 4], &[0xfe, 0xff, 0x00, 0xe0]);
        assert!(bytes
            .windows(12)
            .any(|w| w == b"\x08\x00\x30\x10LO\x04\x00Caf "));
        assert!(bytes.windows(4).any(|w| w == b"Desc"), "extended");
    }

    #[test]
    fn the_same_image_is_listed_once_and_a_missing_uid_refused() {
        let mut dir = DicomDir::new(false);
        let f = instance("P1", "1.1", "1.1.1", "1.1.1.1");
        dir.add("IM0", &f).unwrap();
        dir.add("IM1", &f).unwrap();
        assert_eq!(dir.records.len(), 4);
        assert!(!dir.encode().windows(4).any(|w| w == b"Desc"));
        let bad = file(&[(SOP_UID, b"UI", "1.2")]);
        assert!(dir.add("IM2", &bad).is_err());
    }
}
