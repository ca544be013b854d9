//! The DICOM file reader: preamble and meta header detection, explicit and
//! implicit VR, little and big endian, deflated data sets, sequences of defined
//! and undefined length, encapsulated pixel data. Like DCMTK, it refuses a
//! file whose elements run past the end of the data.

use std::io::Read;

use super::dictionary;
use super::model::{DataSet, DicomFile, Element, Tag, Value, Vr};

const UNDEFINED: u32 = 0xffff_ffff;
/// Items nested deeper than this are refused (hostile input).
const MAX_DEPTH: usize = 64;

pub const IMPLICIT_LITTLE: &str = "1.2.840.10008.1.2";
pub const EXPLICIT_LITTLE: &str = "1.2.840.10008.1.2.1";
pub const EXPLICIT_BIG: &str = "1.2.840.10008.1.2.2";
pub const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

/// Why bytes could not be read as DICOM.
pub type ReadError = String;

/// Reads a whole file (with or without preamble and meta header).
pub fn read_file(bytes: &[u8]) -> Result<DicomFile, ReadError> {
    let mut meta = DataSet::default();
    let mut start = 0usize;
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        let mut r = Reader::new(bytes, 132, true, false);
        while r.pos + 2 <= bytes.len()
            && u16::from_le_bytes([bytes[r.pos], bytes[r.pos + 1]]) == 0x0002
        {
            let el = r.element(&meta, 0)?;
            meta.elements.push(el);
        }
        start = r.pos;
    }
    let declared = meta
        .get(Tag(0x0002, 0x0010))
        .and_then(|e| e.bytes())
        .map(|b| {
            String::from_utf8_lossy(b)
                .trim_matches(|c| c == ' ' || c == '\0')
                .to_string()
        })
        .filter(|s| !s.is_empty());
    let transfer_syntax = match declared {
        Some(ts) => ts,
        None => detect_transfer_syntax(&bytes[start..]).to_string(),
    };
    let (explicit, big) = match transfer_syntax.as_str() {
        IMPLICIT_LITTLE => (false, false),
        EXPLICIT_BIG => (true, true),
        _ => (true, false),
    };
    let (dataset, pixel_data_offset) = if transfer_syntax == DEFLATED {
        let mut inflated = Vec::new();
        flate2::read::DeflateDecoder::new(&bytes[start..])
            .read_to_end(&mut inflated)
            .map_err(|e| format!("cannot inflate the data set: {e}"))?;
        let mut r = Reader::new(&inflated, 0, true, false);
        (r.dataset(None, 0)?, None)
    } else {
        let mut r = Reader::new(bytes, start, explicit, big);
        let ds = r.dataset(None, 0)?;
        (ds, r.pixel_data_offset)
    };
    Ok(DicomFile {
        meta,
        dataset,
        transfer_syntax,
        pixel_data_offset,
    })
}

/// Reads a bare data set (no preamble, no meta header) in a known transfer
/// syntax: C-FIND answers and identifiers received over the network.
pub fn read_dataset(bytes: &[u8], transfer_syntax: &str) -> Result<DataSet, ReadError> {
    let transfer_syntax = transfer_syntax.trim_end_matches(['\0', ' ']);
    if transfer_syntax == DEFLATED {
        let mut inflated = Vec::new();
        flate2::read::DeflateDecoder::new(bytes)
            .read_to_end(&mut inflated)
            .map_err(|e| format!("cannot inflate the data set: {e}"))?;
        return Reader::new(&inflated, 0, true, false).dataset(None, 0);
    }
    let (explicit, big) = match transfer_syntax {
        IMPLICIT_LITTLE => (false, false),
        EXPLICIT_BIG => (true, true),
        _ => (true, false),
    };
    Reader::new(bytes, 0, explicit, big).dataset(None, 0)
}

/// Guesses the encoding of a data set without meta header, as DCMTK does from
/// its first element: a plausible VR means explicit; the smaller group wins.
pub(crate) fn detect_transfer_syntax(data: &[u8]) -> &'static str {
    if data.len() < 6 {
        return IMPLICIT_LITTLE;
    }
    let le = u16::from_le_bytes([data[0], data[1]]);
    let be = u16::from_be_bytes([data[0], data[1]]);
    let explicit = data[4].is_ascii_uppercase() && data[5].is_ascii_uppercase();
    match (explicit, be < le) {
        (true, true) => EXPLICIT_BIG,
        (true, false) => EXPLICIT_LITTLE,
        (false, _) => IMPLICIT_LITTLE,
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    explicit: bool,
    big: bool,
    pixel_data_offset: Option<u64>,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], pos: usize, explicit: bool, big: bool) -> Self {
        Reader {
            buf,
            pos,
            explicit,
            big,
            pixel_data_offset: None,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(format!(
                "premature end of data at offset {} (needs {} bytes)",
                self.pos, n
            )),
        }
    }

    fn u16(&mut self) -> Result<u16, ReadError> {
        let b = self.take(2)?;
        Ok(if self.big {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    }

    fn u32(&mut self) -> Result<u32, ReadError> {
        let b = self.take(4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Ok(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    fn tag(&mut self) -> Result<Tag, ReadError> {
        Ok(Tag(self.u16()?, self.u16()?))
    }

    /// Reads elements until `end` (defined length), an item delimiter
    /// (undefined-length item, `end == None` and `depth > 0`) or the end of data.
    fn dataset(&mut self, end: Option<usize>, depth: usize) -> Result<DataSet, ReadError> {
        if depth > MAX_DEPTH {
            return Err("sequences nested too deeply".into());
        }
        let mut ds = DataSet::default();
        loop {
            match end {
                Some(end) if self.pos >= end => {
                    if self.pos > end {
                        return Err(format!("item overruns its length at offset {}", self.pos));
                    }
                    break;
                }
                None if self.pos >= self.buf.len() => {
                    if depth > 0 {
                        return Err("missing item delimitation".into());
                    }
                    break;
                }
                _ => {}
            }
            let start = self.pos;
            let tag = Tag(self.peek_u16(0)?, self.peek_u16(2)?);
            if tag == Tag::ITEM_DELIMITATION || tag == Tag::SEQUENCE_DELIMITATION {
                self.pos += 4;
                self.u32()?;
                if tag == Tag::ITEM_DELIMITATION && end.is_none() && depth > 0 {
                    break;
                }
                continue; // stray delimiter: DCMTK skips it
            }
            let el = self.element(&ds, depth)?;
            if depth == 0 && el.tag == Tag::PIXEL_DATA {
                self.pixel_data_offset = Some(start as u64);
            }
            ds.elements.push(el);
        }
        Ok(ds)
    }

    fn peek_u16(&self, at: usize) -> Result<u16, ReadError> {
        let p = self.pos + at;
        if p + 2 > self.buf.len() {
            return Err(format!("premature end of data at offset {}", self.pos));
        }
        let b = [self.buf[p], self.buf[p + 1]];
        Ok(if self.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn element(&mut self, current: &DataSet, depth: usize) -> Result<Element, ReadError> {
        let tag = self.tag()?;
        let (vr, len) = if self.explicit {
            let b = self.take(2)?;
            let vr = Vr([b[0], b[1]]);
            if !(b[0].is_ascii_uppercase() && b[1].is_ascii_uppercase()) {
                return Err(format!(
                    "invalid VR {:?} for tag {tag}",
                    String::from_utf8_lossy(b)
                ));
            }
            if vr.has_long_length() {
                self.take(2)?;
                (vr, self.u32()?)
            } else {
                (vr, self.u16()? as u32)
            }
        } else {
            let creator = current.private_creator(tag);
            (
                dictionary::implicit_vr(tag, creator.as_deref()),
                self.u32()?,
            )
        };
        let value = if len == UNDEFINED {
            if tag == Tag::PIXEL_DATA || vr == Vr::OB || vr == Vr::OW {
                Value::Fragments(self.fragments()?)
            } else if vr == Vr::UN {
                // CP-246: an undefined-length UN is a sequence in implicit VR little endian
                let (explicit, big) = (self.explicit, self.big);
                self.explicit = false;
                self.big = false;
                let items = self.items(None, depth);
                self.explicit = explicit;
                self.big = big;
                Value::Sequence(items?)
            } else {
                Value::Sequence(self.items(None, depth)?)
            }
        } else if vr == Vr::SQ {
            let end = self.pos + len as usize;
            if end > self.buf.len() {
                return Err(format!("sequence {tag} runs past the end of data"));
            }
            Value::Sequence(self.items(Some(end), depth)?)
        } else {
            let mut bytes = self.take(len as usize)?.to_vec();
            if self.big {
                swap_to_little(&mut bytes, vr.swap_unit());
            }
            Value::Bytes(bytes)
        };
        Ok(Element { tag, vr, value })
    }

    fn items(&mut self, end: Option<usize>, depth: usize) -> Result<Vec<DataSet>, ReadError> {
        let mut items = Vec::new();
        loop {
            if let Some(end) = end {
                if self.pos >= end {
                    break;
                }
            }
            let tag = self.tag()?;
            let len = self.u32()?;
            if tag == Tag::SEQUENCE_DELIMITATION {
                if end.is_none() {
                    break;
                }
                continue;
            }
            if tag != Tag::ITEM {
                return Err(format!(
                    "expected an item, found {tag} at offset {}",
                    self.pos - 8
                ));
            }
            if len == UNDEFINED {
                items.push(self.dataset(None, depth + 1)?);
            } else {
                let item_end = self.pos + len as usize;
                if item_end > self.buf.len() {
                    return Err(format!(
                        "item runs past the end of data at offset {}",
                        self.pos
                    ));
                }
                items.push(self.dataset(Some(item_end), depth + 1)?);
            }
        }
        Ok(items)
    }

    fn fragments(&mut self) -> Result<Vec<Vec<u8>>, ReadError> {
        let mut fragments = Vec::new();
        loop {
            let tag = self.tag()?;
            let len = self.u32()?;
            if tag == Tag::SEQUENCE_DELIMITATION {
                break;
            }
            if tag != Tag::ITEM || len == UNDEFINED {
                return Err(format!(
                    "bad pixel data fragment {tag} at offset {}",
                    self.pos - 8
                ));
            }
            fragments.push(self.take(len as usize)?.to_vec());
        }
        Ok(fragments)
    }
}

fn swap_to_little(bytes: &mut [u8], unit: usize) {
    if unit > 1 {
        for chunk in bytes.chunks_exact_mut(unit) {
            chunk.reverse();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit_le(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&tag.0.to_le_bytes());
        v.extend_from_slice(&tag.1.to_le_bytes());
        v.extend_from_slice(vr);
        v.extend_from_slice(&(value.len() as u16).to_le_bytes());
        v.extend_from_slice(value);
        v
    }

    #[test]
    fn reads_a_data_set_without_meta() {
        let mut data = explicit_le((0x0008, 0x0060), b"CS", b"CT");
        data.extend(explicit_le((0x0028, 0x0010), b"US", &512u16.to_le_bytes()));
        let f = read_file(&data).unwrap();
        assert_eq!(f.transfer_syntax, EXPLICIT_LITTLE);
        assert_eq!(
            f.dataset.get(Tag(0x0028, 0x0010)).unwrap().bytes(),
            Some(&[0u8, 2][..])
        );
    }

    #[test]
    fn refuses_truncated_values() {
        let mut data = explicit_le((0x0008, 0x0060), b"CS", b"CT");
        data.truncate(data.len() - 1);
        assert!(read_file(&data).is_err());
    }

    #[test]
    fn implicit_vr_uses_the_dictionary() {
        let mut data = Vec::new();
        data.extend_from_slice(&[0x28, 0, 0x10, 0, 2, 0, 0, 0, 0, 2]);
        let f = read_file(&data).unwrap();
        assert_eq!(f.transfer_syntax, IMPLICIT_LITTLE);
        assert_eq!(f.dataset.elements[0].vr, Vr::US);
    }
}
