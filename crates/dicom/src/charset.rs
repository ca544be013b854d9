//! Specific Character Set handling as Orthanc 1.10.1 does it: the *first*
//! non-empty term of (0008,0005) picks one encoding for the whole data set
//! (unsupported term: ASCII, no term: the default encoding, `DefaultEncoding`,
//! Latin1 unless configured), the bytes are converted to UTF-8 (invalid
//! sequences skipped) and, when the attribute is multi-valued ("code
//! extensions"), ISO 2022 escape sequences are removed. The other way,
//! [`Encoding::from_utf8`] and [`Encoding::dicom_term`] encode what Orthanc
//! answers in its default encoding (C-FIND).

use encoding_rs::{DecoderResult, EncoderResult, Encoding as RsEncoding};

use super::model::{DataSet, Tag};

/// Orthanc's `Encoding` enumeration. `Windows1251` is reachable only as the
/// `DefaultEncoding` (no DICOM term names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Ascii,
    Utf8,
    Latin1,
    Latin2,
    Latin3,
    Latin4,
    Latin5,
    Cyrillic,
    Windows1251,
    Arabic,
    Greek,
    Hebrew,
    Thai,
    Japanese,
    JapaneseKanji,
    Chinese,
    Korean,
    SimplifiedChinese,
}

/// Orthanc's names of the encodings (`DefaultEncoding`, `/tools/default-encoding`).
const NAMES: [(Encoding, &str); 18] = [
    (Encoding::Ascii, "Ascii"),
    (Encoding::Utf8, "Utf8"),
    (Encoding::Latin1, "Latin1"),
    (Encoding::Latin2, "Latin2"),
    (Encoding::Latin3, "Latin3"),
    (Encoding::Latin4, "Latin4"),
    (Encoding::Latin5, "Latin5"),
    (Encoding::Cyrillic, "Cyrillic"),
    (Encoding::Windows1251, "Windows1251"),
    (Encoding::Arabic, "Arabic"),
    (Encoding::Greek, "Greek"),
    (Encoding::Hebrew, "Hebrew"),
    (Encoding::Thai, "Thai"),
    (Encoding::Japanese, "Japanese"),
    (Encoding::Chinese, "Chinese"),
    (Encoding::JapaneseKanji, "JapaneseKanji"),
    (Encoding::Korean, "Korean"),
    (Encoding::SimplifiedChinese, "SimplifiedChinese"),
];

impl Encoding {
    /// The encoding Orthanc names `name` (exactly, as Orthanc compares).
    pub fn from_name(name: &str) -> Option<Encoding> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(e, _)| *e)
    }

    /// Orthanc's name of the encoding.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(e, _)| *e == self)
            .map_or("Latin1", |(_, n)| n)
    }

    /// The Specific Character Set term Orthanc writes for the encoding
    /// (`GetDicomSpecificCharacterSet`); none for `Windows1251`, which no
    /// DICOM term names.
    pub fn dicom_term(self) -> Option<&'static str> {
        Some(match self {
            Encoding::Ascii => "ISO_IR 6",
            Encoding::Utf8 => "ISO_IR 192",
            Encoding::Latin1 => "ISO_IR 100",
            Encoding::Latin2 => "ISO_IR 101",
            Encoding::Latin3 => "ISO_IR 109",
            Encoding::Latin4 => "ISO_IR 110",
            Encoding::Latin5 => "ISO_IR 148",
            Encoding::Cyrillic => "ISO_IR 144",
            Encoding::Arabic => "ISO_IR 127",
            Encoding::Greek => "ISO_IR 126",
            Encoding::Hebrew => "ISO_IR 138",
            Encoding::Thai => "ISO_IR 166",
            Encoding::Japanese => "ISO_IR 13",
            Encoding::JapaneseKanji => "ISO 2022 IR 87",
            Encoding::Chinese => "GB18030",
            Encoding::Korean => "ISO 2022 IR 149",
            Encoding::SimplifiedChinese => "ISO 2022 IR 58",
            Encoding::Windows1251 => return None,
        })
    }

    /// Encodes UTF-8 text as Orthanc's `Toolbox::ConvertFromUtf8`: the
    /// characters the encoding cannot represent are left out.
    pub fn from_utf8(self, text: &str) -> Vec<u8> {
        match self {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Ascii => to_ascii(text.as_bytes()).into_bytes(),
            Encoding::Latin1 => text
                .chars()
                .filter_map(|c| u8::try_from(u32::from(c)).ok())
                .collect(),
            Encoding::Latin5 => encode_iso_c1(encoding_rs::WINDOWS_1254, text),
            Encoding::Thai => encode_iso_c1(encoding_rs::WINDOWS_874, text),
            Encoding::Japanese => encode_skip(encoding_rs::SHIFT_JIS, text),
            other => encode_skip(rs_encoding(other), text),
        }
    }
}

/// Encodes, leaving out the characters the encoding cannot represent.
fn encode_skip(enc: &'static RsEncoding, text: &str) -> Vec<u8> {
    let mut encoder = enc.new_encoder();
    let mut out = Vec::with_capacity(text.len() * 2 + 16);
    let mut input = text;
    loop {
        let room = encoder
            .max_buffer_length_from_utf8_without_replacement(input.len())
            .unwrap_or(input.len() * 4 + 16);
        out.reserve(room);
        let (result, read) =
            encoder.encode_from_utf8_to_vec_without_replacement(input, &mut out, true);
        input = &input[read..];
        match result {
            EncoderResult::InputEmpty => return out,
            EncoderResult::OutputFull | EncoderResult::Unmappable(_) => {}
        }
    }
}

/// ISO 8859 variants that encoding_rs only knows as Windows code pages: the
/// C1 controls are written as themselves, and the characters the code page
/// puts in 0x80-0x9F (which the ISO set lacks) are left out.
fn encode_iso_c1(enc: &'static RsEncoding, text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if ('\u{80}'..'\u{a0}').contains(&c) {
            out.push(u32::from(c) as u8);
            continue;
        }
        let bytes = encode_skip(enc, c.encode_utf8(&mut buf));
        if bytes.len() == 1 && (0x80..0xa0).contains(&bytes[0]) {
            continue;
        }
        out.extend(bytes);
    }
    out
}

/// How a data set's strings are to be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charset {
    pub encoding: Encoding,
    pub code_extensions: bool,
}

impl Default for Charset {
    fn default() -> Self {
        Charset {
            encoding: Encoding::Latin1,
            code_extensions: false,
        }
    }
}

impl Charset {
    /// The charset of a data set, from its (0008,0005) (Latin1 without it).
    pub fn of(ds: &DataSet) -> Charset {
        Charset::of_or(ds, Encoding::Latin1)
    }

    /// The charset of a data set, from its (0008,0005), else `default`
    /// (Orthanc's `DefaultEncoding`).
    pub fn of_or(ds: &DataSet, default: Encoding) -> Charset {
        Charset::detect_or(
            ds.get(Tag::SPECIFIC_CHARACTER_SET).and_then(|e| e.bytes()),
            default,
        )
    }

    /// From the raw value of (0008,0005); `None` when the attribute is absent.
    pub fn detect(raw: Option<&[u8]>) -> Charset {
        Charset::detect_or(raw, Encoding::Latin1)
    }

    /// [`Charset::detect`], with `default` for a data set without (0008,0005).
    pub fn detect_or(raw: Option<&[u8]>, default: Encoding) -> Charset {
        let Some(raw) = raw else {
            return Charset {
                encoding: default,
                code_extensions: false,
            };
        };
        let value = String::from_utf8_lossy(raw);
        let value = value.trim_end_matches([' ', '\0']);
        let terms: Vec<&str> = value.split('\\').collect();
        let code_extensions = terms.len() > 1;
        for term in &terms {
            let term = term.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n');
            if !term.is_empty() {
                let encoding = dicom_encoding(term).unwrap_or(Encoding::Ascii);
                return Charset {
                    encoding,
                    code_extensions,
                };
            }
        }
        Charset {
            encoding: default,
            code_extensions,
        }
    }

    /// Converts string bytes to UTF-8 the way Orthanc's `Toolbox::ConvertToUtf8` does.
    pub fn to_utf8(&self, bytes: &[u8]) -> String {
        let s = match self.encoding {
            Encoding::Ascii => return to_ascii(bytes),
            Encoding::Utf8 => decode_skip(encoding_rs::UTF_8, bytes),
            Encoding::Latin1 => bytes.iter().map(|&b| b as char).collect(),
            Encoding::Latin5 => iso_c1(encoding_rs::WINDOWS_1254, bytes),
            Encoding::Thai => iso_c1(encoding_rs::WINDOWS_874, bytes),
            Encoding::Japanese => decode_skip(encoding_rs::SHIFT_JIS, bytes)
                .chars()
                .map(|c| match c {
                    '\\' => '\u{a5}',
                    '~' => '\u{203e}',
                    c => c,
                })
                .collect(),
            other => decode_skip(rs_encoding(other), bytes),
        };
        if self.code_extensions {
            remove_iso2022_escapes(&s)
        } else {
            s
        }
    }
}

/// Orthanc's `GetDicomEncoding`.
fn dicom_encoding(term: &str) -> Option<Encoding> {
    let t = term.to_ascii_uppercase();
    let iso = |n: &str| t == format!("ISO_IR {n}") || t == format!("ISO 2022 IR {n}");
    Some(if iso("6") {
        Encoding::Ascii
    } else if t == "ISO_IR 192" {
        Encoding::Utf8
    } else if iso("100") {
        Encoding::Latin1
    } else if iso("101") {
        Encoding::Latin2
    } else if iso("109") {
        Encoding::Latin3
    } else if iso("110") {
        Encoding::Latin4
    } else if iso("148") {
        Encoding::Latin5
    } else if iso("144") {
        Encoding::Cyrillic
    } else if iso("127") {
        Encoding::Arabic
    } else if iso("126") {
        Encoding::Greek
    } else if iso("138") {
        Encoding::Hebrew
    } else if iso("166") {
        Encoding::Thai
    } else if iso("13") {
        Encoding::Japanese
    } else if t == "GB18030" || t == "GBK" {
        Encoding::Chinese
    } else if t == "ISO 2022 IR 149" {
        Encoding::Korean
    } else if t == "ISO 2022 IR 87" || t == "ISO 2022 IR 159" {
        Encoding::JapaneseKanji
    } else if t == "ISO 2022 IR 58" {
        Encoding::SimplifiedChinese
    } else {
        return None;
    })
}

fn rs_encoding(e: Encoding) -> &'static RsEncoding {
    match e {
        Encoding::Latin2 => encoding_rs::ISO_8859_2,
        Encoding::Latin3 => encoding_rs::ISO_8859_3,
        Encoding::Latin4 => encoding_rs::ISO_8859_4,
        Encoding::Cyrillic => encoding_rs::ISO_8859_5,
        Encoding::Windows1251 => encoding_rs::WINDOWS_1251,
        Encoding::Arabic => encoding_rs::ISO_8859_6,
        Encoding::Greek => encoding_rs::ISO_8859_7,
        Encoding::Hebrew => encoding_rs::ISO_8859_8,
        Encoding::JapaneseKanji => encoding_rs::ISO_2022_JP,
        Encoding::Chinese => encoding_rs::GB18030,
        Encoding::Korean => encoding_rs::EUC_KR,
        Encoding::SimplifiedChinese => encoding_rs::GBK,
        _ => encoding_rs::WINDOWS_1252,
    }
}

/// Decodes, skipping malformed sequences (boost::locale's `skip` policy).
fn decode_skip(enc: &'static RsEncoding, bytes: &[u8]) -> String {
    let mut decoder = enc.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(bytes.len() * 3 + 16);
    let mut input = bytes;
    loop {
        let (result, read) = decoder.decode_to_string_without_replacement(input, &mut out, true);
        input = &input[read..];
        match result {
            DecoderResult::InputEmpty => return out,
            DecoderResult::OutputFull => out.reserve(input.len() * 3 + 16),
            DecoderResult::Malformed(_, _) => {}
        }
    }
}

/// ISO 8859 variants encoding_rs only knows as Windows code pages: the C1
/// range 0x80-0x9F maps to U+0080-U+009F, as iconv does.
fn iso_c1(enc: &'static RsEncoding, bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if (0x80..0xa0).contains(&b) {
            out.push_str(&decode_skip(enc, &bytes[run_start..i]));
            out.push(b as char);
            run_start = i + 1;
        }
    }
    out.push_str(&decode_skip(enc, &bytes[run_start..]));
    out
}

/// Orthanc's `Toolbox::ConvertToAscii`: keeps printable ASCII only.
pub fn to_ascii(bytes: &[u8]) -> String {
    bytes
        .iter()
        .filter(|&&b| b < 0x80 && !(b < 0x20 || b == 0x7f))
        .map(|&b| b as char)
        .collect()
}

/// Removes ISO 2022 escape sequences (ESC, intermediates 0x20-0x2F, one final
/// byte 0x30-0x7E) and the shift controls SO/SI.
fn remove_iso2022_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            0x0e | 0x0f => i += 1,
            0x1b => {
                let mut j = i + 1;
                while j < b.len() && (0x20..=0x2f).contains(&b[j]) {
                    j += 1;
                }
                if j < b.len() && (0x30..=0x7e).contains(&b[j]) {
                    i = j + 1;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_term_wins_and_default_is_latin1() {
        assert_eq!(Charset::detect(None).encoding, Encoding::Latin1);
        let c = Charset::detect(Some(b"\\ISO 2022 IR 87"));
        assert_eq!(
            c,
            Charset {
                encoding: Encoding::JapaneseKanji,
                code_extensions: true
            }
        );
        assert_eq!(
            Charset::detect(Some(b"ISO 2022 IR 13\\ISO 2022 IR 87")).encoding,
            Encoding::Japanese
        );
        assert_eq!(Charset::detect(Some(b"FOO")).encoding, Encoding::Ascii);
    }

    #[test]
    fn converts() {
        let latin1 = Charset::default();
        assert_eq!(latin1.to_utf8(b"Buc^J\xe9r\xf4me"), "Buc^Jérôme");
        let ascii = Charset {
            encoding: Encoding::Ascii,
            code_extensions: true,
        };
        assert_eq!(ascii.to_utf8(b"\x1b$Ba\x1b(B"), "$Ba(B");
        let jis = Charset {
            encoding: Encoding::JapaneseKanji,
            code_extensions: true,
        };
        assert_eq!(jis.to_utf8(b"\x1b$B;3ED\x1b(B"), "山田");
    }

    #[test]
    fn the_default_encoding_decodes_files_without_a_character_set() {
        let c = Charset::detect_or(None, Encoding::Windows1251);
        assert_eq!(c.to_utf8(b"\xd2\xe0\xe7"), "Таз");
        assert_eq!(
            Charset::detect_or(Some(b"ISO_IR 192"), Encoding::Windows1251).encoding,
            Encoding::Utf8
        );
    }

    #[test]
    fn encodes_leaving_out_what_the_encoding_cannot_represent() {
        let text = "Test-éДΘ๛ﾈ";
        assert_eq!(Encoding::Ascii.from_utf8(text), b"Test-");
        assert_eq!(Encoding::Latin1.from_utf8(text), b"Test-\xe9");
        assert_eq!(Encoding::Cyrillic.from_utf8(text), b"Test-\xb4");
        assert_eq!(Encoding::Thai.from_utf8(text), b"Test-\xfb");
        assert_eq!(Encoding::Japanese.from_utf8("ﾈ"), b"\xc8");
        assert_eq!(Encoding::Latin5.from_utf8("€é"), b"\xe9");
        assert_eq!(Encoding::Windows1251.dicom_term(), None);
        assert_eq!(Encoding::Japanese.dicom_term(), Some("ISO_IR 13"));
    }
}
