//! Orthanc 1.10.1's main DICOM tags per level (the default sets, no
//! `ExtraMainDicomTags`) and `ExpectedNumberOfInstances`.
//!
//! A tag present in the file appears with its converted value (an empty value
//! as ""); values Orthanc turns into `Null` (binary, longer than 256 bytes)
//! are left out, as Orthanc stores only non-null values.

use super::charset::Charset;
use super::model::{DataSet, Tag};
use super::values::{self, Leaf, MAX_STRING_LENGTH};
use crate::{Level, MainTags};

/// One main tag: level, tag and Orthanc's name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MainTagDef {
    pub level: Level,
    pub tag: Tag,
    pub name: &'static str,
}

const fn def(level: Level, g: u16, e: u16, name: &'static str) -> MainTagDef {
    MainTagDef {
        level,
        tag: Tag(g, e),
        name,
    }
}

use Level::{Instance as I, Patient as P, Series as S, Study as T};

static MAIN_TAGS: &[MainTagDef] = &[
    def(P, 0x0010, 0x0010, "PatientName"),
    def(P, 0x0010, 0x0020, "PatientID"),
    def(P, 0x0010, 0x0030, "PatientBirthDate"),
    def(P, 0x0010, 0x0040, "PatientSex"),
    def(P, 0x0010, 0x1000, "OtherPatientIDs"),
    def(T, 0x0008, 0x0020, "StudyDate"),
    def(T, 0x0008, 0x0030, "StudyTime"),
    def(T, 0x0020, 0x0010, "StudyID"),
    def(T, 0x0008, 0x1030, "StudyDescription"),
    def(T, 0x0008, 0x0050, "AccessionNumber"),
    def(T, 0x0020, 0x000d, "StudyInstanceUID"),
    def(T, 0x0032, 0x1060, "RequestedProcedureDescription"),
    def(T, 0x0008, 0x0080, "InstitutionName"),
    def(T, 0x0032, 0x1032, "RequestingPhysician"),
    def(T, 0x0008, 0x0090, "ReferringPhysicianName"),
    def(S, 0x0008, 0x0021, "SeriesDate"),
    def(S, 0x0008, 0x0031, "SeriesTime"),
    def(S, 0x0008, 0x0060, "Modality"),
    def(S, 0x0008, 0x0070, "Manufacturer"),
    def(S, 0x0008, 0x1010, "StationName"),
    def(S, 0x0008, 0x103e, "SeriesDescription"),
    def(S, 0x0018, 0x0015, "BodyPartExamined"),
    def(S, 0x0018, 0x0024, "SequenceName"),
    def(S, 0x0018, 0x1030, "ProtocolName"),
    def(S, 0x0020, 0x0011, "SeriesNumber"),
    def(S, 0x0018, 0x1090, "CardiacNumberOfImages"),
    def(S, 0x0020, 0x1002, "ImagesInAcquisition"),
    def(S, 0x0020, 0x0105, "NumberOfTemporalPositions"),
    def(S, 0x0054, 0x0081, "NumberOfSlices"),
    def(S, 0x0054, 0x0101, "NumberOfTimeSlices"),
    def(S, 0x0020, 0x000e, "SeriesInstanceUID"),
    def(S, 0x0020, 0x0037, "ImageOrientationPatient"),
    def(S, 0x0054, 0x1000, "SeriesType"),
    def(S, 0x0008, 0x1070, "OperatorsName"),
    def(S, 0x0040, 0x0254, "PerformedProcedureStepDescription"),
    def(S, 0x0018, 0x1400, "AcquisitionDeviceProcessingDescription"),
    def(S, 0x0018, 0x0010, "ContrastBolusAgent"),
    def(I, 0x0008, 0x0012, "InstanceCreationDate"),
    def(I, 0x0008, 0x0013, "InstanceCreationTime"),
    def(I, 0x0020, 0x0012, "AcquisitionNumber"),
    def(I, 0x0054, 0x1330, "ImageIndex"),
    def(I, 0x0020, 0x0013, "InstanceNumber"),
    def(I, 0x0028, 0x0008, "NumberOfFrames"),
    def(I, 0x0020, 0x0100, "TemporalPositionIdentifier"),
    def(I, 0x0008, 0x0018, "SOPInstanceUID"),
    def(I, 0x0020, 0x0032, "ImagePositionPatient"),
    def(I, 0x0020, 0x4000, "ImageComments"),
    def(I, 0x0020, 0x0037, "ImageOrientationPatient"),
];

/// All main tags, in Orthanc's order per level.
pub fn main_tag_definitions() -> &'static [MainTagDef] {
    MAIN_TAGS
}

/// The main tags of the four levels (patient, study, series, instance).
pub(super) fn extract(ds: &DataSet, charset: &Charset) -> [MainTags; 4] {
    let mut out: [MainTags; 4] = Default::default();
    for d in MAIN_TAGS {
        let Some(el) = ds.get(d.tag) else { continue };
        if let Leaf::String(s) = values::convert(el, None, charset) {
            if s.len() <= MAX_STRING_LENGTH {
                out[d.level as usize].insert(d.name.to_string(), s);
            }
        }
    }
    out
}

/// `ExpectedNumberOfInstances` of a series as Orthanc computes it
/// (`ComputeExpectedNumberOfInstances`): ImagesInAcquisition ×
/// NumberOfTemporalPositions, else NumberOfSlices × NumberOfTimeSlices, else
/// CardiacNumberOfImages; `None` when absent, unparsable or not positive.
pub fn expected_number_of_instances(series_tags: &MainTags) -> Option<u32> {
    let get = |name: &str| series_tags.get(name).map(String::as_str);
    let product = |a: &str, b: &str| -> Option<Option<i64>> {
        let (a, b) = (get(a)?, get(b)?);
        Some(
            lexical_i64(a)
                .zip(lexical_i64(b))
                .and_then(|(a, b)| a.checked_mul(b)),
        )
    };
    let n = if let Some(n) = product("ImagesInAcquisition", "NumberOfTemporalPositions") {
        n
    } else if let Some(n) = product("NumberOfSlices", "NumberOfTimeSlices") {
        n
    } else {
        lexical_i64(get("CardiacNumberOfImages")?)
    };
    n.filter(|&n| n > 0).and_then(|n| u32::try_from(n).ok())
}

/// `boost::lexical_cast<int64_t>`: optional sign then digits, nothing else.
fn lexical_i64(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
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
    fn expected_instances() {
        assert_eq!(expected_number_of_instances(&tags(&[])), None);
        assert_eq!(
            expected_number_of_instances(&tags(&[("CardiacNumberOfImages", "12")])),
            Some(12)
        );
        assert_eq!(
            expected_number_of_instances(&tags(&[
                ("ImagesInAcquisition", "10"),
                ("NumberOfTemporalPositions", "3")
            ])),
            Some(30)
        );
        // the first rule applies as soon as both tags exist, even if unparsable
        assert_eq!(
            expected_number_of_instances(&tags(&[
                ("ImagesInAcquisition", "x"),
                ("NumberOfTemporalPositions", "3"),
                ("CardiacNumberOfImages", "12")
            ])),
            None
        );
        assert_eq!(
            expected_number_of_instances(&tags(&[
                ("NumberOfSlices", "5"),
                ("NumberOfTimeSlices", "4")
            ])),
            Some(20)
        );
        assert_eq!(
            expected_number_of_instances(&tags(&[("ImagesInAcquisition", "10")])),
            None
        );
        assert_eq!(
            expected_number_of_instances(&tags(&[("CardiacNumberOfImages", " 12")])),
            None
        );
        assert_eq!(
            expected_number_of_instances(&tags(&[("CardiacNumberOfImages", "0")])),
            None
        );
    }
}
