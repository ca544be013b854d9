//! Leaf values as Orthanc 1.10.1 renders them (`FromDcmtkBridge::ConvertLeafElement`
//! with the REST API's flags): strings lose trailing padding (DCMTK), are cut
//! at the first NUL and converted to UTF-8; binary numbers become decimal
//! strings (`boost::lexical_cast`, floats as `%.17g` of a double), multiple
//! values joined by `\`; other binary data (OB, OW, UN, ...) is `Null`.

use super::charset::Charset;
use super::dictionary;
use super::model::{Element, Tag, Value, Vr};

/// Orthanc's `ORTHANC_MAXIMUM_TAG_LENGTH`: longer strings are "TooLong".
pub const MAX_STRING_LENGTH: usize = 256;

/// A converted leaf value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leaf {
    Null,
    String(String),
}

/// Converts a leaf element (`Value::Bytes` or encapsulated pixel data).
pub fn convert(el: &Element, private_creator: Option<&str>, charset: &Charset) -> Leaf {
    let bytes = match &el.value {
        Value::Bytes(b) => b.as_slice(),
        _ => return Leaf::Null,
    };
    if let Some(padding) = el.vr.string_padding() {
        return Leaf::String(charset.to_utf8(machine_string(bytes, padding)));
    }
    if el.vr == Vr::UN {
        if let Some(s) = un_as_string(el.tag, bytes, private_creator, charset) {
            return Leaf::String(s);
        }
        return Leaf::Null;
    }
    match &el.vr.0 {
        b"US" => numbers(bytes, 2, |c| u16::from_le_bytes([c[0], c[1]]).to_string()),
        b"SS" => numbers(bytes, 2, |c| i16::from_le_bytes([c[0], c[1]]).to_string()),
        b"UL" => numbers(bytes, 4, |c| {
            u32::from_le_bytes([c[0], c[1], c[2], c[3]]).to_string()
        }),
        b"SL" => numbers(bytes, 4, |c| {
            i32::from_le_bytes([c[0], c[1], c[2], c[3]]).to_string()
        }),
        b"FL" => numbers(bytes, 4, |c| {
            format_g17(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
        }),
        b"FD" => numbers(bytes, 8, |c| {
            format_g17(f64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]))
        }),
        b"AT" if bytes.len() >= 4 => {
            let t = Tag(
                u16::from_le_bytes([bytes[0], bytes[1]]),
                u16::from_le_bytes([bytes[2], bytes[3]]),
            );
            Leaf::String(t.format_comma())
        }
        _ => Leaf::Null,
    }
}

/// DCMTK's machine representation of a string value: trailing padding and
/// NUL bytes removed, then (C string) everything from the first NUL dropped.
pub fn machine_string(bytes: &[u8], padding: u8) -> &[u8] {
    let mut end = bytes.len();
    while end > 0 && (bytes[end - 1] == padding || bytes[end - 1] == 0) {
        end -= 1;
    }
    let b = &bytes[..end];
    match b.iter().position(|&c| c == 0) {
        Some(nul) => &b[..nul],
        None => b,
    }
}

/// UN elements whose dictionary VR is a string (CP-246).
fn un_as_string(
    tag: Tag,
    bytes: &[u8],
    private_creator: Option<&str>,
    charset: &Charset,
) -> Option<String> {
    let entry = dictionary::lookup(tag, private_creator)?;
    Vr::from_dictionary(entry.vr).string_padding()?;
    if bytes.is_empty() {
        return Some(String::new());
    }
    let mut b = bytes;
    if b.len() % 2 == 0 && b[b.len() - 1] == 0 {
        b = &b[..b.len() - 1];
    }
    if tag.is_private() {
        if b.iter().all(|&c| c < 0x80) {
            Some(String::from_utf8_lossy(b).into_owned())
        } else {
            None
        }
    } else {
        Some(charset.to_utf8(b))
    }
}

/// Orthanc's `ApplyDcmtkToCTypeConverter`: all values when the length is a
/// multiple of the size, else the first one, else `Null`.
fn numbers(bytes: &[u8], size: usize, f: impl Fn(&[u8]) -> String) -> Leaf {
    if bytes.len() > size && bytes.len() % size == 0 {
        Leaf::String(
            bytes
                .chunks_exact(size)
                .map(f)
                .collect::<Vec<_>>()
                .join("\\"),
        )
    } else if bytes.len() >= size {
        Leaf::String(f(&bytes[..size]))
    } else {
        Leaf::Null
    }
}

/// C's `printf("%.17g", v)` (what `boost::lexical_cast<std::string>(double)` gives).
pub fn format_g17(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    const P: i32 = 17;
    let sci = format!("{:.*e}", (P - 1) as usize, v);
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent digits");
    if !(-4..P).contains(&exp) {
        let m = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (P - 1 - exp) as usize;
        strip_zeros(&format!("{:.*}", decimals, v)).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17() {
        assert_eq!(format_g17(-159.635_803_222_656_25), "-159.63580322265625");
        assert_eq!(format_g17(10.600_609_779_357_91), "10.60060977935791");
        assert_eq!(format_g17(0.5), "0.5");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_g17(100.0), "100");
    }

    #[test]
    fn strings_and_numbers() {
        let cs = Charset::default();
        let el = |vr: &[u8; 2], b: &[u8]| Element {
            tag: Tag(0x0011, 0x0011),
            vr: Vr(*vr),
            value: Value::Bytes(b.to_vec()),
        };
        assert_eq!(
            convert(&el(b"LO", b" ab \0"), None, &cs),
            Leaf::String(" ab".into())
        );
        assert_eq!(
            convert(&el(b"UI", b"1.2 \0"), None, &cs),
            Leaf::String("1.2 ".into())
        );
        assert_eq!(
            convert(&el(b"US", &[1, 0, 2, 0]), None, &cs),
            Leaf::String("1\\2".into())
        );
        assert_eq!(convert(&el(b"US", &[]), None, &cs), Leaf::Null);
        assert_eq!(convert(&el(b"OB", &[1, 2]), None, &cs), Leaf::Null);
        assert_eq!(
            convert(&el(b"AT", &[0x10, 0, 0x20, 0]), None, &cs),
            Leaf::String("0010,0020".into())
        );
    }
}
