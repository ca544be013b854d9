//! Paths into sequences, in the syntax of Orthanc 1.9.4+ (that of DCMTK's
//! `dcmodify`): `Seq[1].Other[*].Tag`, each tag a dictionary name, `gggg,eeee`,
//! `ggggeeee` or `(gggg,eeee)`; `[*]` matches every item. A path without
//! prefix is a top-level tag.

use super::super::model::Tag;

/// One step into a sequence: the sequence's tag and an item (`None`: every item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub tag: Tag,
    pub index: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub prefix: Vec<Step>,
    pub tag: Tag,
}

/// Why a path could not be parsed (Orthanc: "Parameter out of range", or
/// "Unknown DICOM tag" for a name that is no tag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{0}")]
    Syntax(String),
    #[error("unknown DICOM tag: {0}")]
    UnknownTag(String),
}

impl Path {
    pub fn top(tag: Tag) -> Path {
        Path {
            prefix: Vec::new(),
            tag,
        }
    }

    /// Parses `s`, naming tags with `tag_of` (a name or a hexadecimal form).
    pub fn parse(s: &str, tag_of: impl Fn(&str) -> Option<Tag>) -> Result<Path, PathError> {
        let tag = |token: &str| -> Result<Tag, PathError> {
            let token = token.trim();
            let inner = token
                .strip_prefix('(')
                .and_then(|t| t.strip_suffix(')'))
                .unwrap_or(token);
            tag_of(inner).ok_or_else(|| PathError::UnknownTag(token.to_owned()))
        };
        let tokens: Vec<&str> = s.split('.').collect();
        let (last, parents) = tokens.split_last().expect("split yields one token");
        let mut prefix = Vec::with_capacity(parents.len());
        for token in parents {
            let syntax = |m: &str| PathError::Syntax(m.to_owned());
            let (left, right) = token
                .split_once('[')
                .ok_or_else(|| syntax("Parent path doesn't contain an index"))?;
            if left.trim().is_empty() {
                return Err(syntax("Parent path doesn't contain a tag"));
            }
            let right = right.trim();
            let index = right
                .strip_suffix(']')
                .ok_or_else(|| syntax("Parent path doesn't contain the end of the index"))?
                .trim();
            let index = if index == "*" {
                None
            } else {
                Some(index.parse::<usize>().map_err(|_| {
                    PathError::Syntax(format!("Not a valid index in parent path: [{right}"))
                })?)
            };
            prefix.push(Step {
                tag: tag(left)?,
                index,
            });
        }
        Ok(Path {
            prefix,
            tag: tag(last)?,
        })
    }

    /// Orthanc's `DicomPath::IsMatch`: whether the element `tag` reached
    /// through `parents` (sequence tags and item indexes) is this path or lies
    /// inside what it designates.
    pub fn covers(&self, parents: &[(Tag, usize)], tag: Tag) -> bool {
        if parents.len() < self.prefix.len() {
            return false;
        }
        let prefix_matches =
            self.prefix.iter().zip(parents).all(|(step, (t, i))| {
                step.tag == *t && step.index.is_none_or(|wanted| wanted == *i)
            });
        if !prefix_matches {
            return false;
        }
        match parents.get(self.prefix.len()) {
            None => tag == self.tag,
            Some((t, _)) => *t == self.tag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Option<Tag> {
        match name {
            "Seq" => Some(Tag(0x0008, 0x1140)),
            "Uid" => Some(Tag(0x0008, 0x1155)),
            _ => Tag::parse(name),
        }
    }

    #[test]
    fn parse_and_match() {
        let p = Path::parse("Seq[1].(0008,1155)", named).unwrap();
        assert_eq!(
            p.prefix,
            vec![Step {
                tag: Tag(0x0008, 0x1140),
                index: Some(1)
            }]
        );
        assert!(p.covers(&[(Tag(0x0008, 0x1140), 1)], Tag(0x0008, 0x1155)));
        assert!(!p.covers(&[(Tag(0x0008, 0x1140), 0)], Tag(0x0008, 0x1155)));
        let all = Path::parse("Seq[*].Uid", named).unwrap();
        assert!(all.covers(&[(Tag(0x0008, 0x1140), 7)], Tag(0x0008, 0x1155)));
        let top = Path::parse("Seq", named).unwrap();
        assert!(top.covers(&[(Tag(0x0008, 0x1140), 2)], Tag(0x0010, 0x0010)));
        assert!(top.covers(&[], Tag(0x0008, 0x1140)));
        assert!(matches!(
            Path::parse("Seq.Uid", named),
            Err(PathError::Syntax(_))
        ));
        assert!(matches!(
            Path::parse("Seq[x].Uid", named),
            Err(PathError::Syntax(_))
        ));
        assert!(matches!(
            Path::parse("Nope", named),
            Err(PathError::UnknownTag(_))
        ));
    }
}
