//! The in-memory form of a parsed DICOM file: a tree of elements whose leaf
//! values are kept as raw bytes (numbers normalized to little endian), so that
//! the renderers can reproduce Orthanc's (DCMTK's) view of them exactly:
//! character set conversion, padding rules and private creators are applied
//! when rendering, never when parsing.

use std::fmt;

/// A DICOM tag (group, element).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u16, pub u16);

impl Tag {
    pub const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);
    pub const PIXEL_DATA: Tag = Tag(0x7fe0, 0x0010);
    pub const ITEM: Tag = Tag(0xfffe, 0xe000);
    pub const ITEM_DELIMITATION: Tag = Tag(0xfffe, 0xe00d);
    pub const SEQUENCE_DELIMITATION: Tag = Tag(0xfffe, 0xe0dd);

    pub fn group(self) -> u16 {
        self.0
    }

    pub fn element(self) -> u16 {
        self.1
    }

    /// Private data elements live in odd groups above 0x0008 (DCMTK's `isPrivate`).
    pub fn is_private(self) -> bool {
        self.0 % 2 == 1 && self.0 > 0x0007 && self.0 != 0xffff
    }

    /// `(gggg,00xx)` with `xx` in 0x10..=0xff reserves the block `(gggg,xx00-xxff)`.
    pub fn is_private_creator(self) -> bool {
        self.is_private() && (0x0010..=0x00ff).contains(&self.1)
    }

    /// Orthanc's `gggg,eeee` (lowercase hexadecimal).
    pub fn format_comma(self) -> String {
        format!("{:04x},{:04x}", self.0, self.1)
    }

    /// Orthanc's `/content` path segment `gggg-eeee`.
    pub fn format_dash(self) -> String {
        format!("{:04x}-{:04x}", self.0, self.1)
    }

    /// Parses `gggg,eeee` or `gggg-eeee` (hexadecimal, any case).
    pub fn parse(s: &str) -> Option<Tag> {
        let b = s.as_bytes();
        if b.len() != 9 || (b[4] != b',' && b[4] != b'-') {
            return None;
        }
        let hex = |s: &str| -> Option<u16> {
            if s.bytes().all(|c| c.is_ascii_hexdigit()) {
                u16::from_str_radix(s, 16).ok()
            } else {
                None
            }
        };
        Some(Tag(hex(&s[0..4])?, hex(&s[5..9])?))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:04X},{:04X})", self.0, self.1)
    }
}

/// A value representation as two ASCII bytes (e.g. `*b"PN"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vr(pub [u8; 2]);

impl Vr {
    pub const OB: Vr = Vr(*b"OB");
    pub const OW: Vr = Vr(*b"OW");
    pub const SQ: Vr = Vr(*b"SQ");
    pub const UN: Vr = Vr(*b"UN");
    pub const UL: Vr = Vr(*b"UL");
    pub const US: Vr = Vr(*b"US");

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The DCMTK dictionary uses pseudo-VRs (`xs`, `ox`, `lt`, `up`, `na`, `px`);
    /// this maps them to what DCMTK instantiates when reading implicit VR data.
    pub fn from_dictionary(s: &str) -> Vr {
        match s {
            "xs" => Vr(*b"SS"),
            "ox" | "px" => Vr::OB,
            "lt" => Vr::OW,
            "up" => Vr::UL,
            "na" => Vr::UN,
            other => {
                let b = other.as_bytes();
                if b.len() == 2 {
                    Vr([b[0], b[1]])
                } else {
                    Vr::UN
                }
            }
        }
    }

    /// VRs whose explicit encoding uses 2 reserved bytes and a 32-bit length.
    pub fn has_long_length(self) -> bool {
        matches!(
            &self.0,
            b"OB"
                | b"OD"
                | b"OF"
                | b"OL"
                | b"OV"
                | b"OW"
                | b"SQ"
                | b"SV"
                | b"UC"
                | b"UN"
                | b"UR"
                | b"UT"
                | b"UV"
        )
    }

    /// Character-string VRs (DCMTK's `isaString`), with their padding byte.
    pub fn string_padding(self) -> Option<u8> {
        match &self.0 {
            b"UI" => Some(0),
            b"AE" | b"AS" | b"CS" | b"DA" | b"DS" | b"DT" | b"IS" | b"LO" | b"LT" | b"PN"
            | b"SH" | b"ST" | b"TM" | b"UC" | b"UR" | b"UT" => Some(b' '),
            _ => None,
        }
    }

    /// Size of one binary number of this VR, for byte swapping (AT swaps per u16).
    pub fn swap_unit(self) -> usize {
        match &self.0 {
            b"US" | b"SS" | b"OW" | b"AT" => 2,
            b"UL" | b"SL" | b"FL" | b"OF" | b"OL" => 4,
            b"FD" | b"OD" | b"SV" | b"UV" | b"OV" => 8,
            _ => 1,
        }
    }
}

/// The value of one element.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Leaf bytes exactly as in the file (binary numbers converted to little endian).
    Bytes(Vec<u8>),
    /// A sequence of items.
    Sequence(Vec<DataSet>),
    /// Encapsulated pixel data: the basic offset table then the fragments.
    Fragments(Vec<Vec<u8>>),
}

/// One data element.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub tag: Tag,
    pub vr: Vr,
    pub value: Value,
}

impl Element {
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// A data set or sequence item: elements in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataSet {
    pub elements: Vec<Element>,
}

impl DataSet {
    pub fn get(&self, tag: Tag) -> Option<&Element> {
        self.elements.iter().find(|e| e.tag == tag)
    }

    /// The private creator owning `tag` in this data set, as DCMTK resolves
    /// it: the string value of `(gggg,00xx)`, ignored unless of a string VR.
    pub fn private_creator(&self, tag: Tag) -> Option<String> {
        if !tag.is_private() || tag.1 < 0x1000 {
            return None;
        }
        let el = self.get(Tag(tag.0, tag.1 >> 8))?;
        let padding = el.vr.string_padding()?;
        let value = super::values::machine_string(el.bytes()?, padding);
        Some(String::from_utf8_lossy(value).into_owned())
    }
}

/// A whole file: the meta header (group 0x0002) and the data set.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomFile {
    pub meta: DataSet,
    pub dataset: DataSet,
    /// The transfer syntax the data set was read with.
    pub transfer_syntax: String,
    /// Offset in the received bytes of the top-level PixelData element, if any.
    pub pixel_data_offset: Option<u64>,
}
