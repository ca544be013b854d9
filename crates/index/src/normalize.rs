//! Value normalization for the secondary indexes, and Orthanc's matching rules
//! (wildcards `*` `?`, ranges `A-B`, lists `A\B`).
//!
//! Index keys hold values upper-cased with Latin accents folded, so that a
//! case-insensitive query and a wildcard with a literal prefix are range scans.

/// Upper-case with accents removed: the form stored in the `tags` family.
pub fn normalize(value: &str) -> String {
    value
        .chars()
        .map(fold_accent)
        .flat_map(char::to_uppercase)
        .collect()
}

fn fold_accent(c: char) -> char {
    match c {
        'à'..='å' => 'a',
        'À'..='Å' => 'A',
        'ç' => 'c',
        'Ç' => 'C',
        'è'..='ë' => 'e',
        'È'..='Ë' => 'E',
        'ì'..='ï' => 'i',
        'Ì'..='Ï' => 'I',
        'ñ' => 'n',
        'Ñ' => 'N',
        'ò'..='ö' | 'ø' => 'o',
        'Ò'..='Ö' | 'Ø' => 'O',
        'ù'..='ü' => 'u',
        'Ù'..='Ü' => 'U',
        'ý' | 'ÿ' => 'y',
        'Ý' => 'Y',
        other => other,
    }
}

/// One constraint on one tag, as Orthanc's `/tools/find` and C-FIND
/// understand a query value.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// Universal matching (an empty value): the tag is only requested. A
    /// lone `*` is a wildcard: as in Orthanc, it needs the tag to be set.
    Any,
    Equal(String),
    Wildcard(String),
    /// Inclusive range; an empty bound is open (`-B`, `A-`).
    Range(String, String),
    List(Vec<String>),
}

impl Constraint {
    /// Parses a query value. `ranges` enables `A-B` (dates and times).
    pub fn parse(value: &str, ranges: bool) -> Constraint {
        if value.is_empty() {
            return Constraint::Any;
        }
        if value.contains('\\') {
            return Constraint::List(value.split('\\').map(str::to_owned).collect());
        }
        if ranges {
            if let Some((lo, hi)) = value.split_once('-') {
                return Constraint::Range(lo.to_owned(), hi.to_owned());
            }
        }
        if value.contains('*') || value.contains('?') {
            return Constraint::Wildcard(value.to_owned());
        }
        Constraint::Equal(value.to_owned())
    }

    /// Whether `candidate` satisfies the constraint.
    pub fn matches(&self, candidate: &str, case_sensitive: bool) -> bool {
        let fold = |s: &str| {
            if case_sensitive {
                s.to_owned()
            } else {
                normalize(s)
            }
        };
        match self {
            Constraint::Any => true,
            Constraint::Equal(v) => fold(v) == fold(candidate),
            Constraint::Wildcard(p) => wildcard_match(&fold(p), &fold(candidate)),
            Constraint::Range(lo, hi) => {
                let c = candidate.trim();
                !c.is_empty()
                    && (lo.is_empty() || c >= lo.as_str())
                    && (hi.is_empty() || range_upper_ok(c, hi))
            }
            Constraint::List(items) => items
                .iter()
                .any(|item| Constraint::parse(item, false).matches(candidate, case_sensitive)),
        }
    }

    /// The normalized key range of the `tags` family that holds every match, if
    /// narrower than the whole tag: `(start, end_exclusive)`.
    pub fn scan_bounds(&self) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        match self {
            Constraint::Any => None,
            Constraint::Equal(v) => Some(vec![prefix_bounds(&normalize(v), true)]),
            Constraint::Wildcard(p) => {
                let literal: String = p.chars().take_while(|c| *c != '*' && *c != '?').collect();
                if literal.is_empty() {
                    None
                } else {
                    Some(vec![prefix_bounds(&normalize(&literal), false)])
                }
            }
            Constraint::Range(lo, hi) => {
                let start = normalize(lo).into_bytes();
                let end = if hi.is_empty() {
                    vec![0xff]
                } else {
                    // Everything that starts with the upper bound is in: a time
                    // "1200" covers "120000.123".
                    prefix_bounds(&normalize(hi), false).1
                };
                Some(vec![(start, end)])
            }
            Constraint::List(items) => {
                let mut all = Vec::new();
                for item in items {
                    all.extend(Constraint::parse(item, false).scan_bounds()?);
                }
                Some(all)
            }
        }
    }
}

fn range_upper_ok(candidate: &str, hi: &str) -> bool {
    candidate <= hi || candidate.starts_with(hi)
}

/// Bounds of values equal to `value` (exact) or starting with it. A `tags` key
/// continues the value with `0, id`, so an exact match ends before `value, 1`.
fn prefix_bounds(value: &str, exact: bool) -> (Vec<u8>, Vec<u8>) {
    let start = value.as_bytes().to_vec();
    let mut end = start.clone();
    if exact {
        end.push(1);
    } else {
        end.push(0xff);
    }
    (start, end)
}

pub use isengard_dicom::wildcard::wildcard_match;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("DOE*", "DOE^JOHN"));
        assert!(wildcard_match("*JOHN", "DOE^JOHN"));
        assert!(wildcard_match("D?E*", "DOE^JOHN"));
        assert!(!wildcard_match("D?E", "DOE^JOHN"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn parse_and_match() {
        assert!(Constraint::parse("doe*", false).matches("Doe^John", false));
        assert!(!Constraint::parse("doe*", false).matches("Doe^John", true));
        let r = Constraint::parse("20200101-20201231", true);
        assert!(r.matches("20200615", false));
        assert!(!r.matches("20210101", false));
        assert!(Constraint::parse("-20200101", true).matches("19990101", false));
        assert!(Constraint::parse("20200101-", true).matches("20250101", false));
        assert!(!Constraint::parse("20200101-", true).matches("", false));
        let l = Constraint::parse("CT\\MR", false);
        assert!(l.matches("MR", false) && !l.matches("US", false));
        assert_eq!(normalize("Élodie^müller"), "ELODIE^MULLER");
    }

    #[test]
    fn bounds_cover_matches() {
        let c = Constraint::parse("DOE*", false);
        let b = &c.scan_bounds().unwrap()[0];
        assert!(
            b"DOE^JOHN".as_slice() >= b.0.as_slice() && b"DOE^JOHN".as_slice() < b.1.as_slice()
        );
        assert!(Constraint::parse("*DOE", false).scan_bounds().is_none());
        let eq = Constraint::parse("ct", false).scan_bounds().unwrap();
        assert_eq!(eq[0].0, b"CT".to_vec());
        // The suffix of a `tags` key is `value, 0, id`: inside for equal, outside otherwise.
        let within =
            |key: &[u8], b: &(Vec<u8>, Vec<u8>)| key >= b.0.as_slice() && key < b.1.as_slice();
        assert!(within(b"CT\0some-id", &eq[0]));
        assert!(!within(b"CTA\0some-id", &eq[0]) && !within(b"C\0some-id", &eq[0]));
        assert!(within(b"DOE^JOHN\0id", b));
    }
}
