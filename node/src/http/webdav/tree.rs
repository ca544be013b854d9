//! The folders WebDAV shows, as Orthanc 1.10.1 lays them out
//! (`OrthancWebDav.cpp`):
//!
//! - `by-patients/{PatientID} - {PatientName}/{StudyDate} - {StudyDescription}/{Modality} - {SeriesDescription}/{id}.dcm`
//! - `by-studies/{PatientID} - {PatientName} - {StudyDescription}/{series}/{id}.dcm`
//! - `by-dates/{YYYY}/{YYYY-MM}/{study as in by-studies}/{series}/{id}.dcm`
//! - `by-uids/{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm`, with
//!   `study.json` and `series.json` (the resource as `GET /studies/{id}` shows it)
//! - `uploads/` (`service::webdav_uploads`).
//!
//! Names come from the main tags: missing tags blank, non-ASCII characters
//! and `/`, `\` dropped, trimmed; a name met twice in a folder gets ` (1)`,
//! ` (2)`... in the order the resources were created.

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};

use super::super::resources::render;
use crate::index::{Level, Resource};
use crate::service::{Archive, Result};

pub const BY_PATIENTS: &str = "by-patients";
pub const BY_STUDIES: &str = "by-studies";
pub const BY_DATES: &str = "by-dates";
pub const BY_UIDS: &str = "by-uids";
pub const UPLOADS: &str = "uploads";

/// One item of a folder.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    /// `None` for a folder; else the size and MIME type of the file.
    pub file: Option<(u64, &'static str)>,
    pub time: DateTime<Utc>,
}

/// A file's content.
#[derive(Debug, Clone)]
pub struct File {
    pub bytes: Bytes,
    pub mime: &'static str,
    pub time: DateTime<Utc>,
}

const DICOM: &str = "application/dicom";
const JSON: &str = "application/json";

fn folder(name: impl Into<String>, time: DateTime<Utc>) -> Entry {
    Entry {
        name: name.into(),
        file: None,
        time,
    }
}

/// Orthanc's `YYYYMMDDTHHMMSS` times.
fn time_of(s: Option<&String>) -> DateTime<Utc> {
    s.and_then(|s| NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%S").ok())
        .map(|t| t.and_utc())
        .unwrap_or_else(Utc::now)
}

fn resource_time(r: &Resource) -> DateTime<Utc> {
    if r.level == Level::Instance {
        time_of(r.metadata.get("ReceptionDate"))
    } else {
        time_of(Some(&r.last_update))
    }
}

/// A folder name from a template of main tags (`{{PatientID}} - {{PatientName}}`).
fn name_from(template: &[&str], r: &Resource, parent: Option<&Resource>) -> String {
    let tag = |name: &str| {
        r.main_tags
            .get(name)
            .or_else(|| parent.and_then(|p| p.main_tags.get(name)))
            .map(String::as_str)
            .unwrap_or("")
    };
    let name = template
        .iter()
        .map(|t| tag(t))
        .collect::<Vec<_>>()
        .join(" - ");
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control() && *c != '/' && *c != '\\')
        .collect();
    name.trim().to_owned()
}

/// The template of a level in a folder kind.
fn template(root: &str, level: Level) -> &'static [&'static str] {
    match (root, level) {
        (BY_PATIENTS, Level::Patient) => &["PatientID", "PatientName"],
        (BY_PATIENTS, Level::Study) => &["StudyDate", "StudyDescription"],
        (_, Level::Study) => &["PatientID", "PatientName", "StudyDescription"],
        _ => &["Modality", "SeriesDescription"],
    }
}

/// The named resources of a folder: names made unique in creation order.
fn named(archive: &Archive, root: &str, ids: &[String]) -> Result<Vec<(String, Resource)>> {
    let mut resources = ids
        .iter()
        .map(|id| archive.resource(id))
        .collect::<Result<Vec<_>>>()?;
    resources.sort_by_key(|r| r.created_seq);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(resources.len());
    for r in resources {
        let name = if r.level == Level::Instance {
            format!("{}.dcm", r.id)
        } else {
            let patient = match (root, r.level, &r.parent) {
                (BY_PATIENTS, _, _) | (_, Level::Series, _) => None,
                (_, _, Some(p)) => archive.resource(p).ok(),
                _ => None,
            };
            let base = name_from(template(root, r.level), &r, patient.as_ref());
            let mut name = base.clone();
            let mut count = 0;
            while name.is_empty() || seen.contains(&name) {
                count += 1;
                name = format!("{base} ({count})");
            }
            name
        };
        seen.insert(name.clone());
        out.push((name, r));
    }
    Ok(out)
}

/// The study ids of `by-studies` or of one month of `by-dates`.
fn studies(archive: &Archive, month: Option<&str>) -> Result<Vec<String>> {
    let all = archive.list(Level::Study, 0, None)?;
    let Some(month) = month else {
        return Ok(all);
    };
    let mut out = Vec::new();
    for id in all {
        let r = archive.resource(&id)?;
        if r.main_tags
            .get("StudyDate")
            .is_some_and(|d| d.starts_with(month))
        {
            out.push(id);
        }
    }
    Ok(out)
}

fn study_dates(archive: &Archive) -> Result<Vec<String>> {
    let mut dates = Vec::new();
    for id in archive.list(Level::Study, 0, None)? {
        let r = archive.resource(&id)?;
        if let Some(d) = r.main_tags.get("StudyDate").filter(|d| d.len() >= 6) {
            dates.push(d.clone());
        }
    }
    Ok(dates)
}

/// Walks the named folders below a list of resources: `path` names one
/// resource per level. Returns the resource reached (`None`: no such name).
fn descend(
    archive: &Archive,
    root: &str,
    mut ids: Vec<String>,
    path: &[String],
) -> Result<Option<Resource>> {
    let mut reached = None;
    for name in path {
        let Some((_, r)) = named(archive, root, &ids)?
            .into_iter()
            .find(|(n, _)| n == name)
        else {
            return Ok(None);
        };
        ids = if r.level == Level::Instance {
            Vec::new()
        } else {
            archive.children(&r.id)?
        };
        reached = Some(r);
    }
    Ok(reached)
}

/// The resources a path of `by-patients`, `by-studies` or `by-dates` starts
/// from, and the rest of the path; `None` if the path names no such folder.
fn start<'p>(archive: &Archive, path: &'p [String]) -> Result<Option<(Vec<String>, &'p [String])>> {
    Ok(match path {
        [root, rest @ ..] if root == BY_PATIENTS => {
            Some((archive.list(Level::Patient, 0, None)?, rest))
        }
        [root, rest @ ..] if root == BY_STUDIES => Some((studies(archive, None)?, rest)),
        [root, year, month, rest @ ..] if root == BY_DATES => {
            let (y, m) = month.split_once('-').unwrap_or(("", ""));
            if y != year || m.len() != 2 || year.len() != 4 {
                return Ok(None);
            }
            Some((studies(archive, Some(&format!("{y}{m}")))?, rest))
        }
        _ => None,
    })
}

/// The study (and series) of `by-uids/{study}/{series}`.
fn by_uid(
    archive: &Archive,
    level: Level,
    tag: &str,
    uid: &str,
    among: Vec<String>,
) -> Result<Option<Resource>> {
    for id in among {
        let r = archive.resource_at(level, &id)?;
        if r.main_tags.get(tag).map(String::as_str) == Some(uid) {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

fn uid_entries(archive: &Archive, ids: Vec<String>, tag: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for id in ids {
        let r = archive.resource(&id)?;
        let Some(uid) = r.main_tags.get(tag).filter(|u| !u.is_empty()) else {
            continue;
        };
        out.push(match r.attachments.get("dicom") {
            Some(a) if r.level == Level::Instance => Entry {
                name: format!("{uid}.dcm"),
                file: Some((a.size, DICOM)),
                time: resource_time(&r),
            },
            Some(_) | None if r.level == Level::Instance => continue,
            _ => folder(uid.clone(), resource_time(&r)),
        });
    }
    Ok(out)
}

fn json_file(archive: &Archive, r: &Resource) -> Result<File> {
    let view = archive.view(r.level, &r.id)?;
    let text = serde_json::to_string_pretty(&render(archive, &view)).unwrap_or_default();
    Ok(File {
        bytes: Bytes::from(text.replace('\n', "\r\n") + "\r\n"),
        mime: JSON,
        time: Utc::now(),
    })
}

/// The `by-uids` study and series a path names.
fn uids(archive: &Archive, path: &[String]) -> Result<(Option<Resource>, Option<Resource>)> {
    let study = match path.first() {
        Some(uid) => by_uid(
            archive,
            Level::Study,
            "StudyInstanceUID",
            uid,
            archive.list(Level::Study, 0, None)?,
        )?,
        None => return Ok((None, None)),
    };
    let series = match (&study, path.get(1)) {
        (Some(st), Some(uid)) => by_uid(
            archive,
            Level::Series,
            "SeriesInstanceUID",
            uid,
            archive.children(&st.id)?,
        )?,
        _ => None,
    };
    Ok((study, series))
}

/// The items of the folder at `path`; `None` if it is not a folder.
pub fn list(archive: &Archive, path: &[String], uploads: bool) -> Result<Option<Vec<Entry>>> {
    let now = Utc::now();
    match path {
        [] => {
            let mut roots = vec![BY_DATES, BY_PATIENTS, BY_STUDIES, BY_UIDS];
            if uploads {
                roots.push(UPLOADS);
            }
            return Ok(Some(roots.into_iter().map(|r| folder(r, now)).collect()));
        }
        [root, rest @ ..] if root == UPLOADS && uploads => {
            return Ok(archive.webdav_uploads().list(rest).map(|items| {
                items
                    .into_iter()
                    .map(|e| Entry {
                        name: e.name,
                        file: e.size.map(|s| (s, "application/octet-stream")),
                        time: e.time,
                    })
                    .collect()
            }))
        }
        [root, rest @ ..] if root == BY_UIDS => {
            let (study, series) = uids(archive, rest)?;
            return Ok(match (rest.len(), study, series) {
                (0, _, _) => Some(uid_entries(
                    archive,
                    archive.list(Level::Study, 0, None)?,
                    "StudyInstanceUID",
                )?),
                (1, Some(st), _) => {
                    let json = json_file(archive, &st)?;
                    let mut out = vec![Entry {
                        name: "study.json".into(),
                        file: Some((json.bytes.len() as u64, JSON)),
                        time: now,
                    }];
                    out.extend(uid_entries(
                        archive,
                        archive.children(&st.id)?,
                        "SeriesInstanceUID",
                    )?);
                    Some(out)
                }
                (2, Some(_), Some(se)) => {
                    let json = json_file(archive, &se)?;
                    let mut out = vec![Entry {
                        name: "series.json".into(),
                        file: Some((json.bytes.len() as u64, JSON)),
                        time: now,
                    }];
                    out.extend(uid_entries(
                        archive,
                        archive.children(&se.id)?,
                        "SOPInstanceUID",
                    )?);
                    Some(out)
                }
                // As in Orthanc, any UID names a folder, empty when unknown.
                (1, None, _) => Some(Vec::new()),
                (2, _, None) if rest[1] != "study.json" => Some(Vec::new()),
                _ => None,
            });
        }
        [root] if root == BY_DATES => {
            let mut years: Vec<String> = study_dates(archive)?
                .iter()
                .map(|d| d[..4].to_owned())
                .collect();
            years.sort();
            years.dedup();
            return Ok(Some(years.into_iter().map(|y| folder(y, now)).collect()));
        }
        [root, year] if root == BY_DATES => {
            let mut months: Vec<String> = study_dates(archive)?
                .iter()
                .filter(|d| d.starts_with(year.as_str()))
                .map(|d| format!("{year}-{}", &d[4..6]))
                .collect();
            months.sort();
            months.dedup();
            return Ok(Some(months.into_iter().map(|m| folder(m, now)).collect()));
        }
        _ => {}
    }
    let Some((ids, rest)) = start(archive, path)? else {
        return Ok(None);
    };
    let root = path[0].as_str();
    let children = match descend(archive, root, ids.clone(), rest)? {
        None if rest.is_empty() => ids,
        None => return Ok(None),
        Some(r) if r.level == Level::Instance => return Ok(None),
        Some(r) => archive.children(&r.id)?,
    };
    let mut out = Vec::new();
    for (name, r) in named(archive, root, &children)? {
        out.push(match r.attachments.get("dicom") {
            Some(a) if r.level == Level::Instance => Entry {
                name,
                file: Some((a.size, DICOM)),
                time: resource_time(&r),
            },
            _ => folder(name, resource_time(&r)),
        });
    }
    // Orthanc lists these folders by name.
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(out))
}

/// The file at `path`; `None` if there is none.
pub async fn file(archive: &Archive, path: &[String], uploads: bool) -> Result<Option<File>> {
    let instance = match path {
        [root, rest @ ..] if root == UPLOADS && uploads => {
            return Ok(archive
                .webdav_uploads()
                .file(rest)
                .map(|(bytes, time)| File {
                    bytes,
                    mime: "application/octet-stream",
                    time,
                }))
        }
        [root, study, name] if root == BY_UIDS && name == "study.json" => {
            return match uids(archive, std::slice::from_ref(study))?.0 {
                Some(st) => json_file(archive, &st).map(Some),
                None => Ok(None),
            }
        }
        [root, study, series, name] if root == BY_UIDS => {
            let Some(se) = uids(archive, &[study.clone(), series.clone()])?.1 else {
                return Ok(None);
            };
            if name == "series.json" {
                return json_file(archive, &se).map(Some);
            }
            let Some(sop) = name.strip_suffix(".dcm") else {
                return Ok(None);
            };
            by_uid(
                archive,
                Level::Instance,
                "SOPInstanceUID",
                sop,
                archive.children(&se.id)?,
            )?
        }
        _ => match start(archive, path)? {
            Some((ids, rest)) if rest.last().is_some_and(|n| n.ends_with(".dcm")) => {
                descend(archive, &path[0], ids, rest)?
            }
            _ => None,
        },
    };
    let Some(r) = instance.filter(|r| r.level == Level::Instance) else {
        return Ok(None);
    };
    let Some(dicom) = r.attachments.get("dicom") else {
        return Ok(None);
    };
    Ok(Some(File {
        bytes: archive.read_blob(&dicom.hash).await?,
        mime: DICOM,
        time: resource_time(&r),
    }))
}

/// The resource a deletable path names (`by-uids/...`, `by-*/...`), if any:
/// `Ok(None)` for a virtual file or nothing.
pub fn target(archive: &Archive, path: &[String]) -> Result<Option<Resource>> {
    match path {
        [root, rest @ ..] if root == BY_UIDS && !rest.is_empty() && rest.len() <= 3 => {
            let (study, series) = uids(archive, rest)?;
            Ok(match rest {
                [_] => study,
                [_, n] if n == "study.json" => None,
                [_, _] => series,
                [_, _, n] if n == "series.json" => None,
                [_, _, n] => match (series, n.strip_suffix(".dcm")) {
                    (Some(se), Some(sop)) => by_uid(
                        archive,
                        Level::Instance,
                        "SOPInstanceUID",
                        sop,
                        archive.children(&se.id)?,
                    )?,
                    _ => None,
                },
                _ => None,
            })
        }
        _ => match start(archive, path)? {
            Some((ids, rest)) if !rest.is_empty() => descend(archive, &path[0], ids, rest),
            _ => Ok(None),
        },
    }
}
