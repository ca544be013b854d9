//! What a modification does inside sequences, as Orthanc 1.10.1:
//!
//! - [`relationships`] (anonymizations only, Orthanc's `RelationshipsVisitor`):
//!   the `U` tags (and PatientID, PatientName) mapped through the [`UidMap`] at
//!   the top level, and everywhere inside sequences, with Study/Series/SOP
//!   Instance UIDs; inside sequences the private tags (when removed) and the
//!   profile's `X` and `Z` tags are removed (`Z` text emptied), except under a
//!   kept path;
//! - [`remove_paths`] and [`replace_paths`]: `Remove` and `Replace` entries
//!   that name a path into sequences (applied last, every matching item).

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_object::InMemDicomObject;

use super::path::{Path, Step};
use super::{dtag, element, Charset, Modification, NewValue, RewriteError, UidMap};
use super::{SERIES_INSTANCE_UID, SOP_INSTANCE_UID, STUDY_INSTANCE_UID};
use crate::model::Tag;
use crate::Level;

const PATIENT_NAME: Tag = Tag(0x0010, 0x0010);
const REFERENCED_FRAME_OF_REFERENCE_SEQUENCE: Tag = Tag(0x3006, 0x0010);
const RT_REFERENCED_STUDY_SEQUENCE: Tag = Tag(0x3006, 0x0012);
const REFERENCED_SOP_INSTANCE_UID: Tag = Tag(0x0008, 0x1155);

/// The VRs Orthanc's visitor sees as strings (the numbers in text, IS and DS,
/// it sees as numbers).
fn is_text(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DT
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT
    )
}

enum Action {
    Keep,
    Remove,
    Replace(String),
}

/// Orthanc's `RelationshipsVisitor` over the whole data set.
pub(super) fn relationships(obj: &mut InMemDicomObject, m: &Modification, uids: &mut UidMap) {
    visit(obj, m, uids, &mut Vec::new());
}

fn visit(
    obj: &mut InMemDicomObject,
    m: &Modification,
    uids: &mut UidMap,
    parents: &mut Vec<(Tag, usize)>,
) {
    let tags: Vec<dicom_core::Tag> = obj.tags().collect();
    for t in tags {
        let tag = Tag(t.0, t.1);
        let Some(mut elem) = obj.take(t) else {
            continue;
        };
        let value = if is_text(elem.vr()) {
            elem.to_str().ok().map(|s| s.into_owned())
        } else {
            None
        };
        match decide(tag, value.as_deref(), m, uids, parents) {
            Action::Remove => continue,
            Action::Replace(new) => {
                let vr = elem.vr();
                elem = DataElement::new(t, vr, PrimitiveValue::from(new));
            }
            Action::Keep => {
                if let Some(items) = elem.items_mut() {
                    for (i, item) in items.iter_mut().enumerate() {
                        parents.push((tag, i));
                        visit(item, m, uids, parents);
                        parents.pop();
                    }
                }
            }
        }
        obj.put(elem);
    }
}

fn decide(
    tag: Tag,
    text: Option<&str>,
    m: &Modification,
    uids: &mut UidMap,
    parents: &[(Tag, usize)],
) -> Action {
    let manually_modified =
        |t: Tag| m.clear.contains(&t) || m.remove.contains(&t) || m.replace.contains_key(&t);
    let patient = |t: Tag| t == super::PATIENT_ID || t == PATIENT_NAME;
    if parents.is_empty() {
        return match text {
            Some(v) if m.uids.contains(&tag) && !manually_modified(tag) => {
                let level = if patient(tag) {
                    Level::Patient
                } else {
                    Level::Instance
                };
                Action::Replace(uids.map(level, v))
            }
            _ => Action::Keep,
        };
    }
    if m.keep_paths.iter().any(|p| p.covers(parents, tag)) {
        return Action::Keep;
    }
    if (m.remove_private_tags && tag.is_private()) || m.is_removed(tag) {
        return Action::Remove;
    }
    if m.clear.contains(&tag) {
        return match text {
            Some(_) => Action::Replace(String::new()),
            None => Action::Remove,
        };
    }
    let Some(v) = text else {
        return Action::Keep;
    };
    let level = match tag {
        STUDY_INSTANCE_UID => Level::Study,
        SERIES_INSTANCE_UID => Level::Series,
        SOP_INSTANCE_UID => Level::Instance,
        t if m.uids.contains(&t) && patient(t) => Level::Patient,
        // In RT-STRUCT, this ReferencedSOPInstanceUID names a study.
        REFERENCED_SOP_INSTANCE_UID
            if m.uids.contains(&tag)
                && parents.len() == 2
                && parents[0].0 == REFERENCED_FRAME_OF_REFERENCE_SEQUENCE
                && parents[1].0 == RT_REFERENCED_STUDY_SEQUENCE =>
        {
            Level::Study
        }
        t if m.uids.contains(&t) => Level::Instance,
        _ => return Action::Keep,
    };
    Action::Replace(uids.map(level, v))
}

/// Calls `f` on every item that `prefix` designates.
fn for_each_item(
    obj: &mut InMemDicomObject,
    prefix: &[Step],
    f: &mut dyn FnMut(&mut InMemDicomObject) -> Result<(), RewriteError>,
) -> Result<(), RewriteError> {
    let Some((step, rest)) = prefix.split_first() else {
        return f(obj);
    };
    let Some(mut elem) = obj.take(dtag(step.tag)) else {
        return Ok(());
    };
    let mut outcome = Ok(());
    if let Some(items) = elem.items_mut() {
        for (i, item) in items.iter_mut().enumerate() {
            if step.index.is_none_or(|wanted| wanted == i) {
                outcome = for_each_item(item, rest, f);
                if outcome.is_err() {
                    break;
                }
            }
        }
    }
    obj.put(elem);
    outcome
}

pub(super) fn remove_paths(obj: &mut InMemDicomObject, paths: &[Path]) {
    for path in paths {
        let _ = for_each_item(obj, &path.prefix, &mut |item| {
            item.remove_element(dtag(path.tag));
            Ok(())
        });
    }
}

pub(super) fn replace_paths(
    obj: &mut InMemDicomObject,
    paths: &[(Path, NewValue)],
    creator: &str,
    charset: &Charset,
) -> Result<(), RewriteError> {
    for (path, value) in paths {
        for_each_item(obj, &path.prefix, &mut |item| {
            let existing = item.get(dtag(path.tag)).map(|e| e.vr());
            item.put(element(path.tag, value, existing, creator, charset)?);
            Ok(())
        })?;
    }
    Ok(())
}
