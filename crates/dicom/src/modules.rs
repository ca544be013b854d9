//! The DICOM modules Orthanc answers per level (`/{level}/{id}/module`,
//! `/studies/{id}/module-patient`), as tables of PS3.3: C.7-1 Patient (with
//! the Issuer of Patient ID macro), C.7-3 General Study, C.7-5 General Series
//! (with the Performed Procedure Step Summary macro), C.12-1 SOP Common (with
//! the Digital Signatures macro), the selection of Orthanc 1.10; and the
//! tags shared by a set of instances (`/shared-tags`).

use serde_json::{Map, Value as Json};

use super::model::Tag;

/// The modules Orthanc serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Patient,
    Study,
    Series,
    Instance,
}

const PATIENT: &[(u16, u16)] = &[
    (0x0008, 0x1120),
    (0x0010, 0x0010),
    (0x0010, 0x0020),
    (0x0010, 0x0021),
    (0x0010, 0x0024),
    (0x0010, 0x0030),
    (0x0010, 0x0032),
    (0x0010, 0x0040),
    (0x0010, 0x1000),
    (0x0010, 0x1001),
    (0x0010, 0x1002),
    (0x0010, 0x2160),
    (0x0010, 0x2201),
    (0x0010, 0x2202),
    (0x0010, 0x2292),
    (0x0010, 0x2293),
    (0x0010, 0x2294),
    (0x0010, 0x2297),
    (0x0010, 0x2298),
    (0x0010, 0x2299),
    (0x0010, 0x4000),
    (0x0012, 0x0062),
    (0x0012, 0x0063),
    (0x0012, 0x0064),
];

const STUDY: &[(u16, u16)] = &[
    (0x0008, 0x0020),
    (0x0008, 0x0030),
    (0x0008, 0x0050),
    (0x0008, 0x0051),
    (0x0008, 0x0090),
    (0x0008, 0x0096),
    (0x0008, 0x1030),
    (0x0008, 0x1032),
    (0x0008, 0x1048),
    (0x0008, 0x1049),
    (0x0008, 0x1060),
    (0x0008, 0x1062),
    (0x0008, 0x1110),
    (0x0020, 0x000d),
    (0x0020, 0x0010),
    (0x0032, 0x1034),
    (0x0040, 0x1012),
];

const SERIES: &[(u16, u16)] = &[
    (0x0008, 0x0021),
    (0x0008, 0x0031),
    (0x0008, 0x0060),
    (0x0008, 0x103e),
    (0x0008, 0x103f),
    (0x0008, 0x1050),
    (0x0008, 0x1052),
    (0x0008, 0x1070),
    (0x0008, 0x1072),
    (0x0008, 0x1111),
    (0x0008, 0x1250),
    (0x0010, 0x2210),
    (0x0018, 0x0015),
    (0x0018, 0x1030),
    (0x0018, 0x5100),
    (0x0020, 0x000e),
    (0x0020, 0x0011),
    (0x0020, 0x0060),
    (0x0028, 0x0108),
    (0x0029, 0x0109),
    (0x0040, 0x0244),
    (0x0040, 0x0245),
    (0x0040, 0x0253),
    (0x0040, 0x0254),
    (0x0040, 0x0260),
    (0x0040, 0x0275),
    (0x0040, 0x0280),
];

const INSTANCE: &[(u16, u16)] = &[
    (0x0008, 0x0005),
    (0x0008, 0x0012),
    (0x0008, 0x0013),
    (0x0008, 0x0014),
    (0x0008, 0x0016),
    (0x0008, 0x0018),
    (0x0008, 0x001a),
    (0x0008, 0x001b),
    (0x0008, 0x0110),
    (0x0008, 0x0201),
    (0x0018, 0xa001),
    (0x0020, 0x0013),
    (0x0028, 0x0303),
    (0x0040, 0xa390),
    (0x0100, 0x0410),
    (0x0100, 0x0420),
    (0x0100, 0x0424),
    (0x0100, 0x0426),
    (0x0400, 0x0500),
    (0x0400, 0x0561),
    (0x4ffe, 0x0001),
    (0xfffa, 0xfffa),
];

impl Module {
    /// The tags of the module.
    pub fn tags(self) -> impl Iterator<Item = Tag> {
        let table = match self {
            Module::Patient => PATIENT,
            Module::Study => STUDY,
            Module::Series => SERIES,
            Module::Instance => INSTANCE,
        };
        table.iter().map(|(g, e)| Tag(*g, *e))
    }

    /// The members of a full JSON rendering ([`crate::json::full`]) that
    /// belong to the module.
    pub fn filter(self, full: &Json) -> Json {
        let mut out = Map::new();
        for tag in self.tags() {
            let key = tag.format_comma();
            if let Some(v) = full.get(&key) {
                out.insert(key, v.clone());
            }
        }
        let mut sorted: Vec<_> = out.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        Json::Object(sorted.into_iter().collect())
    }
}

/// Orthanc's shared tags: the string-valued members of full renderings
/// that every instance has with the same value.
#[derive(Debug, Default)]
pub struct SharedTags {
    shared: Option<Map<String, Json>>,
}

impl SharedTags {
    /// Adds the full rendering of one more instance.
    pub fn add(&mut self, full: &Json) {
        let strings: Map<String, Json> = full
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, node)| node.get("Type").and_then(Json::as_str) == Some("String"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.shared = Some(match self.shared.take() {
            None => strings,
            Some(mut shared) => {
                shared.retain(|k, v| strings.get(k).map(|s| &s["Value"]) == Some(&v["Value"]));
                shared
            }
        });
    }

    /// The shared tags, in the full form.
    pub fn finish(self) -> Json {
        Json::Object(self.shared.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modules_filter_and_shared_tags_keep_equal_strings() {
        let node = |v: &str| json!({"Name": "X", "Type": "String", "Value": v});
        let a = json!({"0010,0010": node("KNEE"), "0008,0018": node("1"), "0008,1030": node("D"),
                       "7fe0,0010": {"Name": "PixelData", "Type": "Null", "Value": null}});
        let b = json!({"0010,0010": node("KNEE"), "0008,0018": node("2")});
        let mut shared = SharedTags::default();
        shared.add(&a);
        shared.add(&b);
        let s = shared.finish();
        assert_eq!(
            s.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["0010,0010"]
        );
        assert_eq!(Module::Patient.filter(&a).as_object().unwrap().len(), 1);
        assert_eq!(Module::Study.filter(&a)["0008,1030"]["Value"], "D");
        assert!(Module::Instance.filter(&a).get("0008,0018").is_some());
    }
}
