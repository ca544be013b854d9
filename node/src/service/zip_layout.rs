//! ZIP archives of resources (`/{level}/{id}/archive`, `/tools/create-archive`)
//! in Orthanc 1.10's layout, which clients and scripts rely on:
//!
//! - one folder per patient, study and series, always from the patient down
//!   (a series archive holds `patient/study/series/...` too), named from the
//!   main tags: `PatientID PatientName`, `AccessionNumber StudyDescription`,
//!   `Modality SeriesDescription`, or `Unknown Patient|Study|Series` when
//!   both are empty;
//! - names keep printable ASCII letters, digits, `.`, `_` and single spaces
//!   (`^` becomes a space, other characters are dropped), and a name met twice
//!   in one folder becomes `name-2`, `name-3`...;
//! - patients, studies and series in the order of their Orthanc ids, the
//!   instances of a series in the order they were received, named from the
//!   modality and a counter: `CT000000.dcm`, `M0000000.dcm`, `00000000.dcm`.
//!
//! A media archive (with a DICOMDIR) holds the same files in the same order,
//! flat and named as DICOM media want them: `IMAGES/IM0`, `IMAGES/IM1`...
//!
//! [`Archive::archive_entries`] and [`Archive::media_entries`] compute the
//! entries from the index; the bytes are streamed by [`super::zip_stream`].

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

use super::{Archive, Result, ServiceError};
use crate::index::{Level, MainTags, Resource};

/// One file of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// Path inside the archive: `patient/study/series/CT000000.dcm`.
    pub path: String,
    pub instance: String,
    /// The blob of the instance's DICOM file.
    pub hash: String,
    /// The blob is compressed (`/attachments/dicom/compress`).
    pub compressed: bool,
    /// The size of the DICOM file.
    pub size: u64,
}

/// What to put in an archive below one resource: each child whole (`None`)
/// or a part of it; for a series, the instances picked one by one.
#[derive(Debug, Default)]
struct Selection {
    /// Patients, studies or series, ordered by id as Orthanc does.
    picked: BTreeMap<String, Option<Selection>>,
    /// Instances of a series, in the order they were picked.
    instances: Vec<String>,
}

impl Selection {
    /// Adds the resource at the end of `lineage` (ids from the patient down
    /// to it; `level` is the level of `lineage[0]`). A resource already
    /// included whole swallows its descendants; a resource added whole
    /// replaces the parts of it added before.
    fn add(&mut self, level: Level, lineage: &[String]) {
        match lineage {
            [] => {}
            [instance] if level == Level::Instance => {
                if !self.instances.contains(instance) {
                    self.instances.push(instance.clone());
                }
            }
            [id] => {
                self.picked.insert(id.clone(), None);
            }
            [id, rest @ ..] => {
                let child = level.child().expect("a lineage ends at the instance level");
                match self.picked.entry(id.clone()) {
                    Entry::Vacant(slot) => {
                        let mut part = Selection::default();
                        part.add(child, rest);
                        slot.insert(Some(part));
                    }
                    Entry::Occupied(mut slot) => {
                        if let Some(part) = slot.get_mut() {
                            part.add(child, rest);
                        }
                    }
                }
            }
        }
    }
}

/// The names already given in one folder of the archive.
#[derive(Debug, Default)]
struct Folder(HashMap<String, u32>);

impl Folder {
    /// `name` made archive-safe, with `-N` appended if the folder has it already.
    fn unique(&mut self, name: &str) -> String {
        let name = keep_alphanumeric(name);
        let seen = self.0.entry(name.clone()).or_insert(0);
        *seen += 1;
        if *seen == 1 {
            name
        } else {
            format!("{name}-{seen}")
        }
    }
}

/// Orthanc's `KeepAlphanumeric`: ASCII letters, digits, `.` and `_`, with `^`
/// and whitespace as single spaces, trimmed.
fn keep_alphanumeric(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut last_space = false;
    for c in source.chars().map(|c| if c == '^' { ' ' } else { c }) {
        if c.is_ascii_whitespace() || c == '\x0b' {
            if !last_space {
                last_space = true;
                out.push(' ');
            }
        } else if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
            last_space = false;
        }
    }
    out.trim_matches(' ').to_owned()
}

/// The folder name of a patient, study or series before it is made unique:
/// two main tags, non-ASCII and control characters dropped, or `Unknown
/// <Level>` when nothing is left.
fn folder_name(level: Level, tags: &MainTags) -> String {
    let tag = |name: &str| tags.get(name).map(String::as_str).unwrap_or("");
    let raw = match level {
        Level::Patient => format!("{} {}", tag("PatientID"), tag("PatientName")),
        Level::Study => format!("{} {}", tag("AccessionNumber"), tag("StudyDescription")),
        Level::Series | Level::Instance => {
            format!("{} {}", tag("Modality"), tag("SeriesDescription"))
        }
    };
    let ascii: String = raw
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect();
    let ascii = ascii.trim_matches(' ');
    if ascii.is_empty() {
        format!("Unknown {}", level.as_str())
    } else {
        ascii.to_owned()
    }
}

/// The name of the `counter`-th instance of a series of `modality`: its
/// first two letters (upper case) and a counter, 8 characters in all.
fn instance_name(modality: &str, counter: usize) -> String {
    let head = &modality.as_bytes()[..modality.len().min(2)];
    let prefix: String = head
        .iter()
        .filter(|b| b.is_ascii())
        .map(|b| b.to_ascii_uppercase() as char)
        .collect();
    let width = 8 - head.len();
    format!("{prefix}{counter:0width$}.dcm")
}

impl Archive {
    /// The files of a ZIP archive of `ids` (patients, studies, series or
    /// instances, mixed), in Orthanc's layout and order. An unknown id is
    /// [`ServiceError::UnknownResource`].
    pub fn archive_entries(&self, ids: &[String]) -> Result<Vec<ArchiveEntry>> {
        let mut root = Selection::default();
        for id in ids {
            let lineage = self.lineage(id)?;
            root.add(Level::Patient, &lineage);
        }
        let mut entries = Vec::new();
        self.emit(Level::Patient, &root, "", &mut entries)?;
        Ok(entries)
    }

    /// The files of a media archive of `ids`: those of
    /// [`Archive::archive_entries`], renamed `IMAGES/IM<n>` (DICOM media allow
    /// 8 characters per path component).
    pub fn media_entries(&self, ids: &[String]) -> Result<Vec<ArchiveEntry>> {
        let mut entries = self.archive_entries(ids)?;
        for (n, entry) in entries.iter_mut().enumerate() {
            entry.path = format!("IMAGES/IM{n}");
        }
        Ok(entries)
    }

    /// Ids from the patient down to `id`.
    fn lineage(&self, id: &str) -> Result<Vec<String>> {
        let mut lineage = vec![id.to_owned()];
        let mut r = self.resource(id)?;
        while let Some(parent) = r.parent.take() {
            r = self.resource(&parent)?;
            lineage.push(parent);
        }
        if r.level != Level::Patient {
            return Err(ServiceError::UnknownResource(id.to_owned()));
        }
        lineage.reverse();
        Ok(lineage)
    }

    /// Every child of `id`, whole.
    fn whole(&self, id: &str) -> Result<Selection> {
        let children = self.node.reader().children(id)?;
        Ok(Selection {
            picked: children.iter().map(|c| (c.clone(), None)).collect(),
            instances: children,
        })
    }

    /// The entries of `selection`, whose keys are at `level`, under the folder `prefix`.
    fn emit(
        &self,
        level: Level,
        selection: &Selection,
        prefix: &str,
        out: &mut Vec<ArchiveEntry>,
    ) -> Result<()> {
        let mut folder = Folder::default();
        for (id, part) in &selection.picked {
            let resource = self.resource_at(level, id)?;
            let path = format!(
                "{prefix}{}/",
                folder.unique(&folder_name(level, &resource.main_tags))
            );
            let whole;
            let part = match part {
                Some(part) => part,
                None => {
                    whole = self.whole(id)?;
                    &whole
                }
            };
            if level == Level::Series {
                self.emit_instances(&resource, &part.instances, &path, out)?;
            } else {
                self.emit(level.child().unwrap_or(Level::Instance), part, &path, out)?;
            }
        }
        Ok(())
    }

    fn emit_instances(
        &self,
        series: &Resource,
        ids: &[String],
        prefix: &str,
        out: &mut Vec<ArchiveEntry>,
    ) -> Result<()> {
        let modality = series
            .main_tags
            .get("Modality")
            .map(String::as_str)
            .unwrap_or("");
        let mut folder = Folder::default();
        for (counter, id) in ids.iter().enumerate() {
            let instance = self.resource_at(Level::Instance, id)?;
            let dicom = instance
                .attachments
                .get("dicom")
                .ok_or_else(|| ServiceError::UnknownAttachment("dicom".into()))?;
            out.push(ArchiveEntry {
                path: format!(
                    "{prefix}{}",
                    folder.unique(&instance_name(modality, counter))
                ),
                instance: instance.id.clone(),
                hash: dicom.hash.clone(),
                compressed: dicom.compressed,
                size: dicom.uncompressed_size,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> MainTags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn folder_names_as_orthanc_writes_them() {
        // Cases checked against Orthanc 1.10.1.
        let name =
            |level, pairs: &[(&str, &str)]| keep_alphanumeric(&folder_name(level, &tags(pairs)));
        assert_eq!(
            name(
                Level::Patient,
                &[
                    ("PatientID", "PID/007 x"),
                    ("PatientName", "Müller-Lüdenscheidt^José^Dr.")
                ]
            ),
            "PID007 x MllerLdenscheidt Jos Dr."
        );
        assert_eq!(
            name(
                Level::Patient,
                &[("PatientID", "p\u{1}q"), ("PatientName", "A\tB")]
            ),
            "pq AB"
        );
        assert_eq!(
            name(
                Level::Patient,
                &[("PatientID", "---"), ("PatientName", "^")]
            ),
            ""
        );
        assert_eq!(
            name(Level::Patient, &[("PatientName", "Anonymized")]),
            "Anonymized"
        );
        assert_eq!(
            name(
                Level::Study,
                &[
                    ("AccessionNumber", "ACC 1"),
                    ("StudyDescription", "Thorax  CT/with contrast")
                ]
            ),
            "ACC 1 Thorax CTwith contrast"
        );
        assert_eq!(
            name(
                Level::Study,
                &[("AccessionNumber", ""), ("StudyDescription", "")]
            ),
            "Unknown Study"
        );
        assert_eq!(
            name(
                Level::Study,
                &[("AccessionNumber", "a_b.c"), ("StudyDescription", "x")]
            ),
            "a_b.c x"
        );
        assert_eq!(
            name(
                Level::Series,
                &[("Modality", "O?"), ("SeriesDescription", "\t")]
            ),
            "O"
        );
        assert_eq!(name(Level::Series, &[]), "Unknown Series");
    }

    #[test]
    fn instance_names_from_the_modality() {
        let name = |m, i| keep_alphanumeric(&instance_name(m, i));
        assert_eq!(name("CT", 0), "CT000000.dcm");
        assert_eq!(name("sr", 12), "SR000012.dcm");
        assert_eq!(name("M", 3), "M0000003.dcm");
        assert_eq!(name("", 1), "00000001.dcm");
        assert_eq!(name("O?", 0), "O000000.dcm");
        assert_eq!(name("CT", 1234567), "CT1234567.dcm");
    }

    #[test]
    fn repeated_names_are_numbered() {
        let mut folder = Folder::default();
        assert_eq!(folder.unique("Unknown Study"), "Unknown Study");
        assert_eq!(folder.unique("Unknown Study"), "Unknown Study-2");
        assert_eq!(folder.unique("Unknown^Study"), "Unknown Study-3");
        assert_eq!(folder.unique("Other"), "Other");
    }

    #[test]
    fn a_whole_resource_swallows_its_parts() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut s = Selection::default();
        s.add(Level::Patient, &ids(&["p", "st", "se", "i2"]));
        s.add(Level::Patient, &ids(&["p", "st", "se", "i1"]));
        s.add(Level::Patient, &ids(&["p", "st", "se", "i2"]));
        let series = |s: &Selection| {
            let study = s.picked["p"].as_ref().unwrap();
            let series = study.picked["st"].as_ref().unwrap();
            series.picked["se"].as_ref().map(|se| se.instances.clone())
        };
        assert_eq!(
            series(&s),
            Some(ids(&["i2", "i1"])),
            "instances in the order picked, once"
        );
        s.add(Level::Patient, &ids(&["p", "st", "se"]));
        assert_eq!(series(&s), None, "the series whole");
        s.add(Level::Patient, &ids(&["p", "st", "se", "i3"]));
        assert_eq!(
            series(&s),
            None,
            "an instance of a whole series adds nothing"
        );
        s.add(Level::Patient, &ids(&["p"]));
        assert!(s.picked["p"].is_none());
    }
}
