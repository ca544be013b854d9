//! Local find: one planner for `/tools/find`, `/tools/lookup`, C-FIND, and
//! the selection of C-MOVE and C-GET.
//!
//! A [`FindRequest`] is protocol-neutral: a level, keys (a tag by Orthanc's
//! name, or an identifier's element with its VR) with their values, and the
//! [`FindRules`] on which Orthanc's REST API and its C-FIND SCP differ. It is
//! planned once ([`FindRequest::plan`]): main tags of the level and its
//! ancestors, and `ModalitiesInStudy` on studies, become index
//! [`TagConstraint`]s (wildcards `*` `?`, ranges on DA/DT/TM, lists `A\B`,
//! universal matching for empty values); the other keys are read, as
//! Orthanc's default `StorageAccessOnFind: Always` does, from the first
//! instance file of each candidate. [`Archive::find`] (in `run.rs`) runs the
//! plan and pages the matches; C-FIND's answers (main tags, the computed
//! `NumberOf*Related*`, `ModalitiesInStudy`, `SOPClassesInStudy`, and the
//! values read from the file) are built in `answer.rs`.

mod answer;
mod run;
#[cfg(test)]
mod tests;

pub use answer::{level_name, parse_level};
pub use run::{Found, Match};

use crate::config::Config;
use crate::dicom::{self, dictionary, Tag};
use crate::index::find::TagConstraint;
use crate::index::normalize::Constraint;
use crate::index::Level;

const QUERY_RETRIEVE_LEVEL: Tag = Tag(0x0008, 0x0052);
const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);
const MODALITIES_IN_STUDY: Tag = Tag(0x0008, 0x0061);
const SOP_CLASSES_IN_STUDY: Tag = Tag(0x0008, 0x0062);

/// VRs on which DICOM (and Orthanc's REST API) allow `*` and `?`.
const WILDCARD_VRS: &[&str] = &["AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"];

/// Errors of a find request, mapped at the edges.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// A key that names no tag (REST).
    #[error("unknown tag {0}")]
    UnknownTag(String),
    /// `*` or `?` on a VR that does not allow them ([`Wildcards::TextVrsOnly`]).
    #[error("Wildcards are not allowed on tag {0}")]
    WildcardsNotAllowed(String),
}

/// What a key designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindKey {
    /// A tag by Orthanc's name, with the dictionary's VR (`ModalitiesInStudy`
    /// is a CS). Read from a file, it is looked up by name in the instance's
    /// simplified tags (`/instances/{id}/tags?simplify`).
    Named {
        name: String,
        tag: Option<Tag>,
        vr: String,
        /// How errors name the key: `gggg,eeee`, or the key as given when
        /// the dictionary has no tag for the name.
        label: String,
    },
    /// An element of a DICOM identifier, with the VR it came with. Read from
    /// a file, it is the element's value.
    Element { tag: Tag, vr: String },
}

impl FindKey {
    /// The tag REST designates by its name or `gggg,eeee`.
    pub fn named(key: &str) -> Result<FindKey, FindError> {
        let name = dicom::tag_name(key).ok_or_else(|| FindError::UnknownTag(key.to_owned()))?;
        let (tag, vr) = if name == "ModalitiesInStudy" {
            (Some(MODALITIES_IN_STUDY), "CS".to_owned())
        } else {
            match dictionary::find_by_name(&name) {
                Some(tag) => (
                    Some(tag),
                    dictionary::implicit_vr(tag, None).as_str().to_owned(),
                ),
                None => (None, "UN".to_owned()),
            }
        };
        let label = tag
            .map(|t| t.format_comma())
            .unwrap_or_else(|| key.to_owned());
        Ok(FindKey::Named {
            name,
            tag,
            vr,
            label,
        })
    }

    /// An element of an identifier.
    pub fn element(tag: Tag, vr: &str) -> FindKey {
        FindKey::Element {
            tag,
            vr: vr.to_owned(),
        }
    }

    fn tag(&self) -> Option<Tag> {
        match self {
            FindKey::Named { tag, .. } => *tag,
            FindKey::Element { tag, .. } => Some(*tag),
        }
    }

    fn vr(&self) -> &str {
        match self {
            FindKey::Named { vr, .. } | FindKey::Element { vr, .. } => vr,
        }
    }

    fn is_modalities_in_study(&self) -> bool {
        match self {
            FindKey::Named { name, .. } => name == "ModalitiesInStudy",
            FindKey::Element { tag, .. } => *tag == MODALITIES_IN_STUDY,
        }
    }

    /// The main tag the key designates: its (highest) level and its name.
    fn main_tag(&self) -> Option<(Level, String)> {
        match self {
            FindKey::Named { name, .. } => dicom::main_tag_level(name).map(|l| (l, name.clone())),
            FindKey::Element { tag, .. } => main_tag(*tag).map(|(l, n)| (l, n.to_owned())),
        }
    }
}

/// The main tag an element designates, with its level (Orthanc's name).
fn main_tag(tag: Tag) -> Option<(Level, &'static str)> {
    dicom::main_tag_definitions()
        .iter()
        .filter(|d| d.tag == tag)
        .map(|d| (d.level, d.name))
        .min_by_key(|(l, _)| *l)
}

/// Which constraints match case-sensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseRule {
    /// REST's `CaseSensitive`: one choice for every tag, person names
    /// included, on the index and on files alike.
    Every(bool),
    /// C-FIND: every tag case-sensitive but person names (PN), which follow
    /// `CaseSensitivePN`, main tags and tags read from a file alike.
    PersonNames { case_sensitive_pn: bool },
}

impl CaseRule {
    fn on_index(self, vr: &str) -> bool {
        match self {
            CaseRule::Every(sensitive) => sensitive,
            CaseRule::PersonNames { case_sensitive_pn } => vr != "PN" || case_sensitive_pn,
        }
    }

    fn on_file(self, vr: &str) -> bool {
        self.on_index(vr)
    }
}

/// Where `*` and `?` may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wildcards {
    /// REST and C-FIND: only on text VRs ([`WILDCARD_VRS`]); elsewhere the
    /// request is refused ([`FindError::WildcardsNotAllowed`]), as Orthanc
    /// 1.10 does (C-FIND answers `UnableToProcess`).
    TextVrsOnly,
    /// The selection of C-MOVE and C-GET: never refused.
    Anywhere,
}

/// A constraint the resources of the level cannot hold: on a main tag of a
/// lower level, or on `ModalitiesInStudy` elsewhere than on studies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowerLevelKeys {
    /// REST (Orthanc 1.10 matches them against the resource's own tags,
    /// which never hold them): a non-empty value matches nothing.
    MatchNothing,
    /// C-FIND: the constraint is ignored (the key is answered empty).
    Ignore,
}

/// The matching rules on which `/tools/find` and C-FIND differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindRules {
    pub case: CaseRule,
    pub wildcards: Wildcards,
    pub lower_level_keys: LowerLevelKeys,
    /// C-FIND: `NumberOf*Related*`, `ModalitiesInStudy` and
    /// `SOPClassesInStudy` are computed from the index (answered, never
    /// matched), and `QueryRetrieveLevel`, `SpecificCharacterSet` and groups
    /// 0000-0002 are not matched either. Without (REST), every key that is no
    /// main tag (`ModalitiesInStudy` apart) is checked against the file.
    pub computed_keys: bool,
}

impl FindRules {
    /// Orthanc's `/tools/find`, with its `CaseSensitive`.
    pub fn rest(case_sensitive: bool) -> FindRules {
        FindRules {
            case: CaseRule::Every(case_sensitive),
            wildcards: Wildcards::TextVrsOnly,
            lower_level_keys: LowerLevelKeys::MatchNothing,
            computed_keys: false,
        }
    }

    /// Orthanc's C-FIND SCP (and C-MOVE / C-GET), with `CaseSensitivePN`.
    pub fn dicom(case_sensitive_pn: bool) -> FindRules {
        FindRules {
            case: CaseRule::PersonNames { case_sensitive_pn },
            wildcards: Wildcards::Anywhere,
            lower_level_keys: LowerLevelKeys::Ignore,
            computed_keys: true,
        }
    }
}

/// A local find.
#[derive(Debug, Clone)]
pub struct FindRequest {
    pub level: Level,
    pub rules: FindRules,
    /// Matches skipped before the first answer (REST's `Since`).
    pub since: usize,
    /// At most this many answers, 0 for no limit (REST's `Limit`; C-FIND's
    /// `LimitFindInstances` on instances, `LimitFindResults` above).
    pub limit: usize,
    /// Whether each answer carries the values of the keys (C-FIND) or only
    /// the resource (REST).
    pub answer_keys: bool,
    /// The keys and their values, in request order.
    keys: Vec<(FindKey, String)>,
}

impl FindRequest {
    /// A `/tools/find` (no paging until `since` and `limit` are set).
    pub fn rest(level: Level, case_sensitive: bool) -> FindRequest {
        FindRequest {
            level,
            rules: FindRules::rest(case_sensitive),
            since: 0,
            limit: 0,
            answer_keys: false,
            keys: Vec::new(),
        }
    }

    /// A C-FIND (or C-MOVE / C-GET) at `level`, with the configured
    /// `CaseSensitivePN` and limits.
    pub fn dicom(level: Level, config: &Config) -> FindRequest {
        let limit = if level == Level::Instance {
            config.limit_find_instances
        } else {
            config.limit_find_results
        };
        FindRequest {
            level,
            rules: FindRules::dicom(config.case_sensitive_pn),
            since: 0,
            limit,
            answer_keys: true,
            keys: Vec::new(),
        }
    }

    /// Adds a key and its value, refusing wildcards the rules do not allow.
    pub fn add(&mut self, key: FindKey, value: impl Into<String>) -> Result<(), FindError> {
        let value = value.into();
        if self.rules.wildcards == Wildcards::TextVrsOnly
            && (value.contains('*') || value.contains('?'))
            && !WILDCARD_VRS.contains(&key.vr())
        {
            let label = match &key {
                FindKey::Named { label, .. } => label.clone(),
                FindKey::Element { tag, .. } => tag.format_comma(),
            };
            return Err(FindError::WildcardsNotAllowed(label));
        }
        self.keys.push((key, value));
        Ok(())
    }

    /// Sorts the keys by where they can be answered.
    pub fn plan(&self) -> Plan {
        let mut plan = Plan {
            indexed: Vec::new(),
            from_file: Vec::new(),
            impossible: false,
        };
        let case = self.rules.case;
        let lower_matches_nothing = self.rules.lower_level_keys == LowerLevelKeys::MatchNothing;
        for (i, (key, value)) in self.keys.iter().enumerate() {
            if key.is_modalities_in_study() {
                if self.level != Level::Study {
                    plan.impossible |= lower_matches_nothing && !value.is_empty();
                    continue;
                }
                // A study matches when one of its series does.
                let constraint = Constraint::parse(value, false);
                if constraint != Constraint::Any {
                    plan.indexed.push(TagConstraint {
                        level: Level::Series,
                        tag: "Modality".to_owned(),
                        constraint,
                        case_sensitive: case.on_index("CS"),
                    });
                }
                continue;
            }
            let vr = key.vr();
            let constraint = Constraint::parse(value, matches!(vr, "DA" | "DT" | "TM"));
            if let Some((tag_level, name)) = key.main_tag() {
                if tag_level > self.level {
                    plan.impossible |= lower_matches_nothing && !value.is_empty();
                } else if constraint != Constraint::Any {
                    plan.indexed.push(TagConstraint {
                        level: tag_level,
                        tag: name,
                        constraint,
                        case_sensitive: case.on_index(vr),
                    });
                }
                continue;
            }
            if self.rules.computed_keys && !key.tag().is_some_and(read_from_file) {
                continue;
            }
            if constraint != Constraint::Any || self.answer_keys {
                plan.from_file.push(FileKey {
                    key: i,
                    constraint,
                    case_sensitive: case.on_file(vr),
                });
            }
        }
        plan
    }
}

/// Whether C-FIND reads a key that is no main tag from a file: neither a
/// computed key nor a query/retrieve attribute nor a file meta element.
fn read_from_file(tag: Tag) -> bool {
    let computed = matches!(
        tag,
        Tag(0x0020, 0x1200 | 0x1202 | 0x1204 | 0x1206 | 0x1208 | 0x1209)
    ) || tag == MODALITIES_IN_STUDY
        || tag == SOP_CLASSES_IN_STUDY;
    !computed && tag != QUERY_RETRIEVE_LEVEL && tag != SPECIFIC_CHARACTER_SET && tag.0 > 0x0002
}

/// A request, sorted by where each key can be answered.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Constraints the index resolves.
    pub indexed: Vec<TagConstraint>,
    /// Keys read from the first instance file of each candidate: a constraint
    /// to check, or `Constraint::Any` for a key only answered.
    pub from_file: Vec<FileKey>,
    /// Whether no resource of the level can match ([`LowerLevelKeys`]).
    pub impossible: bool,
}

/// A key read from a file.
#[derive(Debug, Clone)]
pub struct FileKey {
    /// Its position among the request's keys.
    pub key: usize,
    pub constraint: Constraint,
    pub case_sensitive: bool,
}

impl FileKey {
    fn matches(&self, value: Option<&str>) -> bool {
        self.constraint == Constraint::Any
            || value.is_some_and(|v| self.constraint.matches(v, self.case_sensitive))
    }
}
