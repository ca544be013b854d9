//! Synthetic DICOM: realistic patients, studies, series and images built with
//! dicom-object, for tests and benchmarks (no external data set needed).
//!
//! UIDs are `2.25.<n>` (UUID-derived form), made from a seed so a data set is
//! reproducible. [`dataset`] is the compact form the tests use; [`hospital`]
//! draws from a larger name pool and gives every image the acquisition tags
//! of a real CT or MR slice (position, spacing, rescale, window, timings), as
//! the benchmarks need.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
pub const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

const LAST: &[&str] = &[
    "Martin", "Dubois", "Müller", "Schmidt", "Rossi", "García", "Smith", "Jones", "Nguyen",
    "Kowalski", "Jensen", "Peeters",
];
const FIRST: &[&str] = &[
    "Anna", "Jean", "Élodie", "Lukas", "Maria", "John", "Sofia", "Omar", "Chloé", "Piotr",
    "Ingrid", "Bram",
];
const DESCRIPTIONS: &[&str] = &[
    "CT THORAX",
    "CT ABDOMEN PELVIS",
    "MR BRAIN",
    "MR KNEE LEFT",
    "CT HEAD",
    "MR LUMBAR SPINE",
];
/// Extra names of [`hospital`] archives: with [`LAST`] and [`FIRST`], 1,600 names.
const MORE_LAST: &[&str] = &[
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Fernández",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Brown",
    "Taylor",
];
const MORE_FIRST: &[&str] = &[
    "Pierre", "Camille", "Louis", "Léa", "Hugo", "Manon", "Felix", "Emma", "Paul", "Mia", "Marco",
    "Giulia", "Luca", "Lucía", "Pablo", "Carmen", "James", "Olivia", "Noah", "Amelia", "Tomasz",
    "Zofia", "Lars", "Astrid", "Sven", "Eva", "Ahmed", "Fatima",
];

/// One instance to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub patient_id: String,
    pub patient_name: String,
    pub birth_date: String,
    pub sex: &'static str,
    pub study_uid: String,
    pub study_date: String,
    pub study_time: String,
    pub accession: String,
    pub study_description: String,
    pub series_uid: String,
    pub modality: &'static str,
    pub series_number: u32,
    pub sop_uid: String,
    pub instance_number: u32,
    pub rows: u16,
    pub columns: u16,
    /// Adds the acquisition tags of a real CT/MR slice ([`hospital`] sets it).
    pub acquisition: bool,
}

impl Spec {
    /// A minimal CT instance with the given identifiers.
    pub fn simple(patient_id: &str, study_uid: &str, series_uid: &str, sop_uid: &str) -> Spec {
        Spec {
            patient_id: patient_id.into(),
            patient_name: "Doe^John".into(),
            birth_date: "19700101".into(),
            sex: "M",
            study_uid: study_uid.into(),
            study_date: "20240102".into(),
            study_time: "101500".into(),
            accession: "ACC001".into(),
            study_description: "CT THORAX".into(),
            series_uid: series_uid.into(),
            modality: "CT",
            series_number: 1,
            sop_uid: sop_uid.into(),
            instance_number: 1,
            rows: 4,
            columns: 4,
            acquisition: false,
        }
    }

    /// The DICOM file (preamble, meta group, explicit VR little endian data set).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut obj = InMemDicomObject::new_empty();
        let mut put = |tag, vr, value: PrimitiveValue| {
            obj.put(DataElement::new(tag, vr, value));
        };
        let sop_class = if self.modality == "MR" {
            MR_IMAGE_STORAGE
        } else {
            CT_IMAGE_STORAGE
        };
        put(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192".into());
        put(tags::SOP_CLASS_UID, VR::UI, sop_class.into());
        put(tags::SOP_INSTANCE_UID, VR::UI, self.sop_uid.as_str().into());
        put(tags::STUDY_DATE, VR::DA, self.study_date.as_str().into());
        put(tags::SERIES_DATE, VR::DA, self.study_date.as_str().into());
        put(tags::STUDY_TIME, VR::TM, self.study_time.as_str().into());
        put(
            tags::ACCESSION_NUMBER,
            VR::SH,
            self.accession.as_str().into(),
        );
        put(tags::MODALITY, VR::CS, self.modality.into());
        put(tags::MANUFACTURER, VR::LO, "ISENGARD SYNTH".into());
        put(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "".into());
        put(
            tags::STUDY_DESCRIPTION,
            VR::LO,
            self.study_description.as_str().into(),
        );
        put(
            tags::SERIES_DESCRIPTION,
            VR::LO,
            format!("{} series {}", self.modality, self.series_number).into(),
        );
        put(
            tags::PATIENT_NAME,
            VR::PN,
            self.patient_name.as_str().into(),
        );
        put(tags::PATIENT_ID, VR::LO, self.patient_id.as_str().into());
        put(
            tags::PATIENT_BIRTH_DATE,
            VR::DA,
            self.birth_date.as_str().into(),
        );
        put(tags::PATIENT_SEX, VR::CS, self.sex.into());
        put(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            self.study_uid.as_str().into(),
        );
        put(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            self.series_uid.as_str().into(),
        );
        put(tags::STUDY_ID, VR::SH, "1".into());
        put(
            tags::SERIES_NUMBER,
            VR::IS,
            self.series_number.to_string().into(),
        );
        put(
            tags::INSTANCE_NUMBER,
            VR::IS,
            self.instance_number.to_string().into(),
        );
        put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1_u16));
        put(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2".into(),
        );
        put(tags::ROWS, VR::US, PrimitiveValue::from(self.rows));
        put(tags::COLUMNS, VR::US, PrimitiveValue::from(self.columns));
        put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16_u16));
        put(tags::BITS_STORED, VR::US, PrimitiveValue::from(12_u16));
        put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11_u16));
        put(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0_u16),
        );
        if self.acquisition {
            self.put_acquisition(&mut put);
        }
        let pixels = self.rows as usize * self.columns as usize;
        let seed = self.instance_number as u64 ^ (self.series_number as u64) << 32;
        let mut rng = StdRng::seed_from_u64(seed);
        let data: Vec<u16> = (0..pixels).map(|_| rng.gen_range(0..4096)).collect();
        put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(data.into()));
        let file = obj
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(EXPLICIT_VR_LE))
            .expect("the synthetic data set has SOP class and instance UIDs");
        let mut out = Vec::with_capacity(pixels * 2 + 2048);
        file.write_all(&mut out)
            .expect("writing to memory cannot fail");
        out
    }
}

impl Spec {
    /// What a scanner writes about the slice: geometry, rescale, window,
    /// timings and the place it was acquired.
    fn put_acquisition(&self, put: &mut impl FnMut(dicom_core::Tag, VR, PrimitiveValue)) {
        let z = -100.0 + 1.25 * self.instance_number as f64;
        let ct = self.modality == "CT";
        put(tags::INSTITUTION_NAME, VR::LO, "HOPITAL SYNTHETIQUE".into());
        put(
            tags::STATION_NAME,
            VR::SH,
            format!("{}SCAN{}", self.modality, self.series_number % 3 + 1).into(),
        );
        put(
            tags::MANUFACTURER_MODEL_NAME,
            VR::LO,
            if ct { "SynthCT 128" } else { "SynthMR 3T" }.into(),
        );
        put(
            tags::BODY_PART_EXAMINED,
            VR::CS,
            self.study_description
                .split(' ')
                .nth(1)
                .unwrap_or("")
                .into(),
        );
        put(
            tags::PROTOCOL_NAME,
            VR::LO,
            self.study_description.as_str().into(),
        );
        put(tags::ACQUISITION_NUMBER, VR::IS, "1".into());
        put(tags::CONTENT_DATE, VR::DA, self.study_date.as_str().into());
        put(tags::CONTENT_TIME, VR::TM, self.study_time.as_str().into());
        put(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\AXIAL".into());
        put(tags::SLICE_THICKNESS, VR::DS, "1.25".into());
        put(tags::SLICE_LOCATION, VR::DS, format!("{z:.2}").into());
        put(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            format!("-250.0\\-250.0\\{z:.2}").into(),
        );
        put(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            "1\\0\\0\\0\\1\\0".into(),
        );
        put(tags::PIXEL_SPACING, VR::DS, "0.9765625\\0.9765625".into());
        put(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            format!("{}.1", self.study_uid).into(),
        );
        put(tags::PATIENT_POSITION, VR::CS, "HFS".into());
        if ct {
            put(tags::KVP, VR::DS, "120".into());
            put(tags::RESCALE_INTERCEPT, VR::DS, "-1024".into());
            put(tags::RESCALE_SLOPE, VR::DS, "1".into());
            put(tags::WINDOW_CENTER, VR::DS, "40".into());
            put(tags::WINDOW_WIDTH, VR::DS, "400".into());
            put(tags::CONVOLUTION_KERNEL, VR::SH, "STANDARD".into());
        } else {
            put(tags::REPETITION_TIME, VR::DS, "2000".into());
            put(tags::ECHO_TIME, VR::DS, "90".into());
            put(tags::MAGNETIC_FIELD_STRENGTH, VR::DS, "3".into());
            put(tags::SCANNING_SEQUENCE, VR::CS, "SE".into());
            put(tags::WINDOW_CENTER, VR::DS, "600".into());
            put(tags::WINDOW_WIDTH, VR::DS, "1200".into());
        }
    }
}

/// The shape of a generated archive.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub patients: u32,
    pub studies_per_patient: u32,
    pub series_per_study: u32,
    pub instances_per_series: u32,
    pub rows: u16,
    pub columns: u16,
    pub seed: u64,
}

fn uid(rng: &mut StdRng) -> String {
    format!("2.25.{}", rng.gen::<u128>() >> 8)
}

/// Every instance of an archive of the given shape, in upload order.
pub fn dataset(shape: Shape) -> Vec<Spec> {
    generate(shape, &[LAST], &[FIRST], false)
}

/// A hospital-like archive of the given shape: 1,600 patient names, every
/// slice with its acquisition tags. Same shape and seed, same archive.
pub fn hospital(shape: Shape) -> Vec<Spec> {
    generate(shape, &[LAST, MORE_LAST], &[FIRST, MORE_FIRST], true)
}

fn pick<'a>(rng: &mut StdRng, pools: &[&[&'a str]]) -> &'a str {
    let total: usize = pools.iter().map(|p| p.len()).sum();
    let mut i = rng.gen_range(0..total);
    for pool in pools {
        if i < pool.len() {
            return pool[i];
        }
        i -= pool.len();
    }
    unreachable!("i < total")
}

fn generate(shape: Shape, last: &[&[&str]], first: &[&[&str]], acquisition: bool) -> Vec<Spec> {
    let mut rng = StdRng::seed_from_u64(shape.seed);
    let mut out = Vec::new();
    for p in 0..shape.patients {
        let name = format!("{}^{}", pick(&mut rng, last), pick(&mut rng, first));
        let patient_id = format!("PAT{:06}", p + 1);
        let birth = format!(
            "{:04}{:02}{:02}",
            rng.gen_range(1930..2020),
            rng.gen_range(1..13),
            rng.gen_range(1..29)
        );
        let sex = if rng.gen_bool(0.5) { "F" } else { "M" };
        for s in 0..shape.studies_per_patient {
            let study_uid = uid(&mut rng);
            let date = format!(
                "{:04}{:02}{:02}",
                rng.gen_range(2010..2026),
                rng.gen_range(1..13),
                rng.gen_range(1..29)
            );
            let time = format!(
                "{:02}{:02}{:02}",
                rng.gen_range(7..20),
                rng.gen_range(0..60),
                rng.gen_range(0..60)
            );
            let description = DESCRIPTIONS[rng.gen_range(0..DESCRIPTIONS.len())];
            let modality = if description.starts_with("MR") {
                "MR"
            } else {
                "CT"
            };
            let accession = format!("A{:08}", p * 100 + s);
            for se in 0..shape.series_per_study {
                let series_uid = uid(&mut rng);
                for i in 0..shape.instances_per_series {
                    out.push(Spec {
                        patient_id: patient_id.clone(),
                        patient_name: name.clone(),
                        birth_date: birth.clone(),
                        sex,
                        study_uid: study_uid.clone(),
                        study_date: date.clone(),
                        study_time: time.clone(),
                        accession: accession.clone(),
                        study_description: description.into(),
                        series_uid: series_uid.clone(),
                        modality,
                        series_number: se + 1,
                        sop_uid: uid(&mut rng),
                        instance_number: i + 1,
                        rows: shape.rows,
                        columns: shape.columns,
                        acquisition,
                    });
                }
            }
        }
    }
    out
}
