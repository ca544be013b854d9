//! Unit tests of the modification rules on in-memory data sets.

use super::*;

fn ct() -> Vec<u8> {
    isengard_test_support::synth::Spec::simple("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5").to_bytes()
}

#[test]
fn apply_removes_replaces_and_regenerates() {
    let mut m = Modification::new(Level::Series);
    m.remove.insert(Tag(0x0008, 0x0070));
    m.replace
        .insert(Tag(0x0010, 0x0010), NewValue::Text("Müller^Hans".into()));
    m.replace
        .insert(Tag(0x0008, 0x0080), NewValue::Text("Clinic".into()));
    let mut uids = UidMap::default();
    let out = apply(&ct(), &m, &mut uids).unwrap();
    let again = apply(&ct(), &m, &mut uids).unwrap();
    let parsed = crate::parse(&out).unwrap();
    let second = crate::parse(&again).unwrap();
    let d = &parsed.object.dataset;
    assert!(d.get(Tag(0x0008, 0x0070)).is_none());
    assert_eq!(
        parsed.patient_tags.get("PatientName").map(String::as_str),
        Some("Müller^Hans")
    );
    assert_eq!(
        parsed
            .study_tags
            .get("StudyInstanceUID")
            .map(String::as_str),
        Some("1.2.3")
    );
    let series = parsed.series_tags.get("SeriesInstanceUID").unwrap();
    assert!(series.starts_with("2.25."));
    assert_eq!(
        second.series_tags.get("SeriesInstanceUID"),
        Some(series),
        "one new UID per old UID"
    );
    assert_eq!(parsed.ids.instance, second.ids.instance);
    let other = crate::parse(&apply(&ct(), &m, &mut UidMap::default()).unwrap()).unwrap();
    assert_ne!(
        parsed.ids.instance, other.ids.instance,
        "another modification, other UIDs"
    );
    let sop = parsed.instance_tags.get("SOPInstanceUID").unwrap();
    let meta_sop = parsed
        .object
        .meta
        .get(Tag(0x0002, 0x0003))
        .and_then(|e| e.bytes())
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(meta_sop).trim_end_matches('\0'),
        sop.as_str()
    );
    assert_eq!(
        parsed.object.dataset.get(Tag::PIXEL_DATA),
        crate::parse(&ct())
            .unwrap()
            .object
            .dataset
            .get(Tag::PIXEL_DATA)
    );
}

#[test]
fn group_lengths_are_recomputed() {
    use dicom_object::InMemDicomObject;
    let mut obj = InMemDicomObject::new_empty();
    let put = |obj: &mut InMemDicomObject, g, e, vr, v: PrimitiveValue| {
        obj.put(DataElement::new(dicom_core::Tag(g, e), vr, v))
    };
    put(
        &mut obj,
        0x0008,
        0x0016,
        VR::UI,
        "1.2.840.10008.5.1.4.1.1.7".into(),
    );
    put(&mut obj, 0x0008, 0x0018, VR::UI, "1.2.3.4".into());
    put(
        &mut obj,
        0x0010,
        0x0000,
        VR::UL,
        PrimitiveValue::from(999_u32),
    );
    put(&mut obj, 0x0010, 0x0010, VR::PN, "Old^Name".into());
    put(&mut obj, 0x0010, 0x0020, VR::LO, "P1".into());
    put(&mut obj, 0x0020, 0x000d, VR::UI, "1.2".into());
    put(&mut obj, 0x0020, 0x000e, VR::UI, "1.2.3".into());
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new().transfer_syntax(super::super::reader::EXPLICIT_LITTLE),
        )
        .unwrap();
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).unwrap();
    let mut m = Modification::new(Level::Instance);
    m.replace
        .insert(Tag(0x0010, 0x0010), NewValue::Text("ABC".into()));
    m.replace
        .insert(Tag(0x0010, 0x1010), NewValue::Text("042Y".into()));
    let out = crate::parse(&apply(&bytes, &m, &mut UidMap::default()).unwrap()).unwrap();
    let length = out
        .object
        .dataset
        .get(Tag(0x0010, 0x0000))
        .and_then(|e| e.bytes())
        .unwrap()
        .to_vec();
    // explicit VR little endian, short form: 8 + padded value each
    let expected = (8 + 4) + (8 + 2) + (8 + 4);
    assert_eq!(u32::from_le_bytes(length.try_into().unwrap()), expected);
}

#[test]
fn vr_comes_from_the_dictionary_then_the_file() {
    assert_eq!(vr_of(Tag(0x0010, 0x0010), None, ""), VR::PN);
    assert_eq!(vr_of(Tag(0x0028, 0x0010), None, ""), VR::US);
    assert_eq!(vr_of(Tag(0x0009, 0x1001), Some(VR::LO), ""), VR::LO);
    assert_eq!(vr_of(Tag(0x0009, 0x1001), None, ""), VR::UN);
    // xs: the file's VR when there is one
    assert_eq!(vr_of(Tag(0x0028, 0x0106), Some(VR::US), ""), VR::US);
}

#[test]
fn values_follow_the_vr() {
    let cs = Charset {
        writer: SpecificCharacterSet::default(),
        ascii_only: false,
    };
    let rows = element(
        Tag(0x0028, 0x0010),
        &NewValue::Text("12".into()),
        None,
        "",
        &cs,
    )
    .unwrap();
    assert_eq!(rows.to_int::<u16>().unwrap(), 12);
    for bad in ["abc", "70000", " 12 ", "12\\13"] {
        let e = element(
            Tag(0x0028, 0x0010),
            &NewValue::Text(bad.into()),
            None,
            "",
            &cs,
        )
        .unwrap_err();
        assert!(matches!(e, RewriteError::OutOfRange { .. }), "{bad}: {e}");
    }
    let e = element(
        Tag(0x0010, 0x0010),
        &NewValue::Sequence(vec![]),
        None,
        "",
        &cs,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "Bad Parameter type for tag 0010,0010");
    // Latin-1 without a Specific Character Set (Orthanc's DefaultEncoding):
    // what it cannot represent is dropped
    let name = element(
        Tag(0x0010, 0x0010),
        &NewValue::Text("Jérôme日本".into()),
        None,
        "",
        &cs,
    )
    .unwrap();
    assert_eq!(name.to_str().unwrap(), "Jérôme");
    let utf8 = Charset {
        writer: SpecificCharacterSet::from_code("ISO_IR 192").unwrap(),
        ascii_only: false,
    };
    let name = element(
        Tag(0x0010, 0x0010),
        &NewValue::Text("Jérôme日本".into()),
        None,
        "",
        &utf8,
    )
    .unwrap();
    assert_eq!(name.to_str().unwrap(), "Jérôme日本");
    // UIDs, dates, codes: the default repertoire only
    let uid = element(
        Tag(0x0008, 0x0018),
        &NewValue::Text("1.2日".into()),
        None,
        "",
        &utf8,
    )
    .unwrap();
    assert_eq!(uid.to_str().unwrap(), "1.2");
    let iso2022 = Charset {
        writer: SpecificCharacterSet::default(),
        ascii_only: true,
    };
    let name = element(
        Tag(0x0010, 0x0010),
        &NewValue::Text("Léman".into()),
        None,
        "",
        &iso2022,
    )
    .unwrap();
    assert_eq!(name.to_str().unwrap(), "Lman");
    assert_eq!(
        binary("data:application/octet-stream;base64,AAE="),
        vec![0, 1]
    );
}
