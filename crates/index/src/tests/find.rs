//! `find` over the secondary tag index at every level, with every kind of
//! constraint, on the target level, its ancestors and its descendants.

use super::*;
use crate::find::TagConstraint;
use crate::normalize::Constraint;

/// A query on `tag` of `level`; dates parse as ranges, `cs` is case-sensitivity.
fn q(level: Level, tag: &str, value: &str, cs: bool) -> TagConstraint {
    let ranges = tag.ends_with("Date");
    TagConstraint {
        level,
        tag: tag.into(),
        constraint: Constraint::parse(value, ranges),
        case_sensitive: cs,
    }
}

fn ids(t: &TestSm, level: Level, queries: &[TagConstraint]) -> Vec<String> {
    t.reader()
        .find(level, queries)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

use Level::*;

#[tokio::test]
async fn equal_and_case() {
    let t = TestSm::with_fixture().await;
    assert_eq!(
        ids(&t, Patient, &[q(Patient, "PatientName", "DOE^JOHN", false)]),
        ["pat-0"]
    );
    assert_eq!(
        ids(&t, Patient, &[q(Patient, "PatientName", "doe^john", false)]),
        ["pat-0"]
    );
    assert_eq!(
        ids(&t, Patient, &[q(Patient, "PatientName", "DOE^JOHN", true)]),
        ["pat-0"]
    );
    assert!(ids(&t, Patient, &[q(Patient, "PatientName", "doe^john", true)]).is_empty());
    assert!(
        ids(&t, Patient, &[q(Patient, "PatientName", "DOE", false)]).is_empty(),
        "not a prefix match"
    );
    assert_eq!(
        ids(&t, Patient, &[q(Patient, "PatientID", "P2", true)]),
        ["pat-1"]
    );
    assert_eq!(
        ids(
            &t,
            Patient,
            &[q(Patient, "PatientName", "muller^elodie", false)]
        ),
        ["pat-1"]
    );
    assert_eq!(
        ids(&t, Study, &[q(Study, "StudyDescription", "ABDOMEN", false)]),
        ["study-2"]
    );
    assert!(ids(&t, Study, &[q(Study, "StudyDescription", "ABDOMEN", true)]).is_empty());
    assert_eq!(
        ids(&t, Study, &[q(Study, "AccessionNumber", "ACC1", true)]),
        ["study-1"]
    );
    assert_eq!(
        ids(&t, Series, &[q(Series, "Modality", "mr", false)]),
        ["series-1", "series-3"]
    );
    assert_eq!(
        ids(
            &t,
            Instance,
            &[q(Instance, "SOPInstanceUID", "1.2.2.2.1", true)]
        ),
        ["inst-2-1"]
    );
    assert!(ids(
        &t,
        Instance,
        &[q(Instance, "SOPInstanceUID", "1.2.2.2", true)]
    )
    .is_empty());
    assert!(ids(&t, Patient, &[q(Patient, "NoSuchTag", "x", false)]).is_empty());
}

#[tokio::test]
async fn wildcards() {
    let t = TestSm::with_fixture().await;
    assert_eq!(
        ids(&t, Patient, &[q(Patient, "PatientName", "DOE*", false)]),
        ["pat-0"]
    );
    assert_eq!(
        ids(&t, Patient, &[q(Patient, "PatientName", "doe*", false)]),
        ["pat-0"]
    );
    assert!(ids(&t, Patient, &[q(Patient, "PatientName", "doe*", true)]).is_empty());
    assert_eq!(
        ids(&t, Patient, &[q(Patient, "PatientName", "*JOHN", false)]),
        ["pat-0"]
    );
    assert_eq!(
        ids(&t, Patient, &[q(Patient, "PatientName", "*^*", false)]),
        ["pat-0", "pat-1"]
    );
    assert_eq!(
        ids(&t, Patient, &[q(Patient, "PatientName", "D?E^*", true)]),
        ["pat-0"]
    );
    assert_eq!(
        ids(&t, Patient, &[q(Patient, "PatientName", "?üller*", false)]),
        ["pat-1"]
    );
    assert_eq!(
        ids(&t, Patient, &[q(Patient, "PatientName", "Müller^É*", true)]),
        ["pat-1"]
    );
    assert_eq!(
        ids(&t, Study, &[q(Study, "StudyDescription", "*r*", false)]),
        ["study-1"]
    );
    assert_eq!(
        ids(&t, Study, &[q(Study, "StudyDescription", "*e*", false)]),
        ["study-0", "study-2"]
    );
    assert_eq!(
        ids(
            &t,
            Instance,
            &[q(Instance, "SOPInstanceUID", "1.2.3.*", true)]
        )
        .len(),
        3
    );
}

#[tokio::test]
async fn ranges_lists_and_universal() {
    let t = TestSm::with_fixture().await;
    let date = |v: &str| ids(&t, Study, &[q(Study, "StudyDate", v, false)]);
    assert_eq!(date("20200101-20211231"), ["study-0", "study-1"]);
    assert_eq!(date("20210101-"), ["study-1", "study-2"]);
    assert_eq!(date("-20200115"), ["study-0"]);
    assert_eq!(date("20210610-20210610"), ["study-1"]);
    assert!(date("20230101-").is_empty());
    assert_eq!(date("20210610"), ["study-1"]);
    assert_eq!(date("20200115\\20220301"), ["study-0", "study-2"]);

    let modality = |v: &str, cs| ids(&t, Series, &[q(Series, "Modality", v, cs)]);
    assert_eq!(
        modality("CT\\US", true),
        ["series-0", "series-2", "series-4"]
    );
    assert_eq!(
        modality("ct\\M*", false),
        ["series-0", "series-1", "series-2", "series-3"]
    );
    assert_eq!(modality("ct\\us", true), Vec::<String>::new());
    assert_eq!(modality("*", true).len(), 5, "every series has a modality");
    assert_eq!(modality("", true).len(), 5);
    assert_eq!(ids(&t, Instance, &[]).len(), 9);
}

#[tokio::test]
async fn constraints_on_ancestors() {
    let t = TestSm::with_fixture().await;
    let doe = || q(Patient, "PatientName", "DOE*", false);
    assert_eq!(
        ids(&t, Series, &[doe(), q(Series, "Modality", "CT", false)]),
        ["series-0", "series-2"]
    );
    assert!(ids(&t, Series, &[doe(), q(Series, "Modality", "US", false)]).is_empty());
    assert_eq!(
        ids(&t, Series, &[doe()]),
        ["series-0", "series-1", "series-2"]
    );
    assert_eq!(
        ids(
            &t,
            Study,
            &[doe(), q(Study, "StudyDate", "20210101-", false)]
        ),
        ["study-1"]
    );
    assert_eq!(
        ids(
            &t,
            Instance,
            &[doe(), q(Study, "StudyDate", "20210610", false)]
        ),
        ["inst-2-0", "inst-2-1"]
    );
    assert_eq!(
        ids(
            &t,
            Instance,
            &[
                q(Series, "Modality", "MR", true),
                q(Instance, "InstanceNumber", "2", true)
            ]
        ),
        ["inst-3-1", "inst-1-1"],
        "creation order"
    );
    let elodie = q(Patient, "PatientName", "*elodie", false);
    assert_eq!(
        ids(&t, Instance, std::slice::from_ref(&elodie)),
        ["inst-3-0", "inst-3-1", "inst-4-0"]
    );
    assert!(ids(
        &t,
        Instance,
        &[elodie, q(Study, "StudyDescription", "CT*", false)]
    )
    .is_empty());
    assert!(ids(&t, Study, &[q(Patient, "PatientID", "P3", true)]).is_empty());
}

#[tokio::test]
async fn constraints_on_descendants() {
    let t = TestSm::with_fixture().await;
    assert_eq!(
        ids(&t, Study, &[q(Series, "Modality", "MR", false)]),
        ["study-0", "study-2"]
    );
    assert_eq!(
        ids(&t, Patient, &[q(Series, "Modality", "US", false)]),
        ["pat-1"]
    );
    assert_eq!(
        ids(&t, Patient, &[q(Series, "Modality", "CT", false)]),
        ["pat-0"]
    );
    assert_eq!(
        ids(&t, Patient, &[q(Study, "StudyDate", "20220301", false)]),
        ["pat-1"]
    );
    assert_eq!(
        ids(
            &t,
            Patient,
            &[q(Instance, "SOPInstanceUID", "1.2.2.2.1", true)]
        ),
        ["pat-0"]
    );
    assert_eq!(
        ids(
            &t,
            Study,
            &[
                q(Series, "Modality", "MR", false),
                q(Study, "StudyDescription", "*brain*", false)
            ]
        ),
        Vec::<String>::new(),
        "the MR studies are CT CHEST and abdomen"
    );
    assert_eq!(
        ids(
            &t,
            Study,
            &[
                q(Series, "Modality", "CT", false),
                q(Patient, "PatientName", "DOE*", false)
            ]
        ),
        ["study-0", "study-1"]
    );
    assert!(ids(
        &t,
        Study,
        &[
            q(Series, "Modality", "CT", false),
            q(Patient, "PatientID", "P2", true)
        ]
    )
    .is_empty());
}
