//! Tag names and VRs as Orthanc sees them: DCMTK's `dicom.dic` + `private.dic`
//! (generated into `dictionary_data.rs`, see ADR 002), plus the few names
//! Orthanc patches over DCMTK's (e.g. `OtherPatientIDs`, retired in DCMTK).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::dictionary_data::{EXACT, PRIVATE, RANGES};
use super::model::{Tag, Vr};

/// DCMTK's `DcmTag_ERROR_TagName`, Orthanc's name for tags in no dictionary.
pub const UNKNOWN_TAG_NAME: &str = "Unknown Tag & Data";

/// A dictionary entry: DCMTK VR (possibly a pseudo-VR such as `xs`) and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub vr: &'static str,
    pub name: &'static str,
}

struct Tables {
    exact: HashMap<u32, Entry>,
    private: HashMap<(u16, &'static str, u16), Entry>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut exact = HashMap::with_capacity(EXACT.len());
        for &(tag, vr, name) in EXACT {
            exact.insert(tag, Entry { vr, name });
        }
        let mut private = HashMap::with_capacity(PRIVATE.len() * 2);
        for &(g0, g1, parity, creator, el, vr, name) in PRIVATE {
            for g in g0..=g1 {
                if parity_ok(g, parity) {
                    private.insert((g, creator, el), Entry { vr, name });
                }
            }
        }
        Tables { exact, private }
    })
}

fn parity_ok(v: u16, parity: u8) -> bool {
    match parity {
        0 => v % 2 == 0,
        1 => v % 2 == 1,
        _ => true,
    }
}

/// Orthanc's own names for some main tags, applied before DCMTK's dictionary
/// (`GetTagNameInternal` in Orthanc's FromDcmtkBridge).
fn orthanc_patch(tag: Tag) -> Option<&'static str> {
    Some(match (tag.0, tag.1) {
        (0x0008, 0x0050) => "AccessionNumber",
        (0x0008, 0x0018) => "SOPInstanceUID",
        (0x0010, 0x0020) => "PatientID",
        (0x0020, 0x000e) => "SeriesInstanceUID",
        (0x0020, 0x000d) => "StudyInstanceUID",
        (0x7fe0, 0x0010) => "PixelData",
        (0x0054, 0x1330) => "ImageIndex",
        (0x0020, 0x0013) => "InstanceNumber",
        (0x0054, 0x0081) => "NumberOfSlices",
        (0x0028, 0x0008) => "NumberOfFrames",
        (0x0018, 0x1090) => "CardiacNumberOfImages",
        (0x0020, 0x1002) => "ImagesInAcquisition",
        (0x0010, 0x0010) => "PatientName",
        (0x0020, 0x0032) => "ImagePositionPatient",
        (0x0020, 0x0037) => "ImageOrientationPatient",
        (0x0010, 0x1000) => "OtherPatientIDs",
        _ => return None,
    })
}

/// Looks a tag up as DCMTK does: private entries by creator, then exact public
/// entries (the last loaded wins), then repeating-group ranges (the first wins).
pub fn lookup(tag: Tag, private_creator: Option<&str>) -> Option<Entry> {
    let t = tables();
    if let Some(creator) = private_creator {
        let el = tag.1 & 0x00ff;
        if let Some(e) = t
            .private
            .get(&(tag.0, creator, el))
            .or_else(|| t.private.get(&(tag.0, creator, tag.1)))
        {
            return Some(*e);
        }
    }
    if let Some(e) = t.exact.get(&((tag.0 as u32) << 16 | tag.1 as u32)) {
        return Some(*e);
    }
    // DCMTK keeps the first matching range (PrivateGroupLength before GenericGroupLength)
    RANGES
        .iter()
        .find(|&&(g0, g1, gp, e0, e1, ep, _, _)| {
            (g0..=g1).contains(&tag.0)
                && parity_ok(tag.0, gp)
                && (e0..=e1).contains(&tag.1)
                && parity_ok(tag.1, ep)
        })
        .map(|&(_, _, _, _, _, _, vr, name)| Entry { vr, name })
}

/// The name Orthanc gives to a tag (`Name` in `/tags`, keys of `/simplified-tags`).
pub fn tag_name(tag: Tag, private_creator: Option<&str>) -> &'static str {
    if let Some(name) = orthanc_patch(tag) {
        return name;
    }
    lookup(tag, private_creator)
        .map(|e| e.name)
        .unwrap_or(UNKNOWN_TAG_NAME)
}

/// The public tag that Orthanc names `name` (Orthanc's patched names first,
/// then DCMTK's public dictionary).
pub fn find_by_name(name: &str) -> Option<Tag> {
    static BY_NAME: OnceLock<HashMap<&'static str, Tag>> = OnceLock::new();
    let map = BY_NAME.get_or_init(|| {
        let mut map = HashMap::with_capacity(EXACT.len());
        for &(tag, _, entry_name) in EXACT {
            map.entry(entry_name)
                .or_insert(Tag((tag >> 16) as u16, (tag & 0xffff) as u16));
        }
        for tag in tables().exact.keys() {
            let t = Tag((tag >> 16) as u16, (tag & 0xffff) as u16);
            if let Some(patched) = orthanc_patch(t) {
                map.insert(patched, t);
            }
        }
        map
    });
    map.get(name).copied()
}

/// The VR DCMTK assigns to an element read with an implicit VR transfer syntax.
pub fn implicit_vr(tag: Tag, private_creator: Option<&str>) -> Vr {
    lookup(tag, private_creator)
        .map(|e| Vr::from_dictionary(e.vr))
        .unwrap_or(Vr::UN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_private_and_ranges() {
        assert_eq!(tag_name(Tag(0x0010, 0x0030), None), "PatientBirthDate");
        assert_eq!(tag_name(Tag(0x0010, 0x1000), None), "OtherPatientIDs");
        assert_eq!(
            tag_name(Tag(0x0043, 0x1031), Some("GEMS_PARM_01")),
            "RACoordOfTargetReconCentre"
        );
        assert_eq!(tag_name(Tag(0x0009, 0x0010), None), "PrivateCreator");
        assert_eq!(tag_name(Tag(0x6002, 0x3000), None), "OverlayData");
        assert_eq!(tag_name(Tag(0x6001, 0x3000), None), UNKNOWN_TAG_NAME);
        assert_eq!(
            tag_name(Tag(0x0009, 0x1001), Some("NOBODY")),
            UNKNOWN_TAG_NAME
        );
        assert_eq!(implicit_vr(Tag(0x0028, 0x0106), None), Vr(*b"SS"));
        assert_eq!(implicit_vr(Tag(0x0054, 0x1330), None), Vr::US);
        assert_eq!(implicit_vr(Tag(0x0008, 0x1140), None), Vr::SQ);
    }
}
