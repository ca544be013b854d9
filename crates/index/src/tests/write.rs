//! Applying commands: counters, listings, the change log, re-stores and
//! overwrites, deletes, stability, metadata, and the garbage collector's claims.

use super::*;
use crate::find::TagConstraint;
use crate::normalize::Constraint;
use crate::store::{cf, decode_u64, CF_BLOB_REFS, CF_RESOURCE_CHANGES, CF_TAGS};
use rocksdb::IteratorMode;

fn refs(t: &TestSm, hash: &str) -> u64 {
    t.db.get_cf(cf(&t.db, CF_BLOB_REFS), hash)
        .unwrap()
        .and_then(|v| decode_u64(&v))
        .unwrap_or(0)
}

fn garbage(t: &TestSm) -> Vec<String> {
    t.reader().blobs_in_state(b"garbage", 100).unwrap()
}

fn change_list(t: &TestSm) -> Vec<(u64, ChangeType, String)> {
    let (changes, done) = t.reader().changes(0, 1000).unwrap();
    assert!(done);
    changes
        .into_iter()
        .map(|c| (c.seq, c.change_type, c.id))
        .collect()
}

/// Whether any `tags` index key names this resource id.
fn tag_index_mentions(t: &TestSm, id: &str) -> bool {
    t.db.iterator_cf(cf(&t.db, CF_TAGS), IteratorMode::Start)
        .any(|item| item.unwrap().0.ends_with(format!("\0{id}").as_bytes()))
}

#[tokio::test]
async fn counters_children_and_listings() {
    let t = TestSm::with_fixture().await;
    let r = t.reader();
    let c = r.counters().unwrap();
    assert_eq!((c.patients, c.studies, c.series, c.instances), (2, 3, 5, 9));
    assert_eq!((c.disk_size, c.uncompressed_size), (904, 1804));

    assert_eq!(r.children("pat-0").unwrap(), ["study-0", "study-1"]);
    assert_eq!(r.children("study-0").unwrap(), ["series-0", "series-1"]);
    assert_eq!(r.children("series-1").unwrap(), ["inst-1-0", "inst-1-1"]);
    assert!(r.children("inst-1-0").unwrap().is_empty());

    assert_eq!(r.list(Level::Patient, 0, None).unwrap(), ["pat-0", "pat-1"]);
    assert_eq!(
        r.list(Level::Instance, 2, Some(3)).unwrap(),
        ["inst-1-0", "inst-2-0", "inst-2-1"]
    );
    assert_eq!(r.list(Level::Series, 4, Some(10)).unwrap(), ["series-4"]);
    assert!(r.list(Level::Study, 5, None).unwrap().is_empty());
    assert!(r.list(Level::Study, 0, Some(0)).unwrap().is_empty());
    assert_eq!(r.list(Level::Instance, 0, None).unwrap().len(), 9);

    let series = r.resource("series-1").unwrap().unwrap();
    assert_eq!(series.parent.as_deref(), Some("study-0"));
    assert_eq!(series.main_tags["Modality"], "MR");
    assert_eq!(series.last_instance_ms, 9_000, "the last instance below it");
    let inst = r.resource("inst-0-1").unwrap().unwrap();
    assert_eq!(inst.attachments["dicom"].size, 101);
    assert_eq!(inst.metadata["RemoteAET"], "MODALITY");
    assert_eq!(refs(&t, &inst.attachments["dicom"].hash), 1);
}

#[tokio::test]
async fn change_log_order_and_seq() {
    let mut t = TestSm::new();
    t.store(instance(0, 0, 0, 0), false, 1_000).await;
    t.store(instance(0, 0, 0, 1), false, 2_000).await;
    t.store(instance(0, 0, 1, 0), false, 3_000).await;
    use ChangeType::*;
    let expected = vec![
        (1, NewInstance, "inst-0-0".to_string()),
        (2, NewSeries, "series-0".into()),
        (3, NewStudy, "study-0".into()),
        (4, NewPatient, "pat-0".into()),
        (5, NewInstance, "inst-0-1".into()),
        (6, NewInstance, "inst-1-0".into()),
        (7, NewSeries, "series-1".into()),
    ];
    assert_eq!(change_list(&t), expected);
    let r = t.reader();
    let (page, done) = r.changes(0, 2).unwrap();
    assert_eq!((page.len(), done, page[1].seq), (2, false, 2));
    let (page, done) = r.changes(5, 2).unwrap();
    assert_eq!((page.len(), done, page[0].seq), (2, true, 6));
    assert_eq!(r.changes(7, 10).unwrap(), (vec![], true));
    assert_eq!(r.last_seq().unwrap(), 7);
    assert_eq!(r.last_change().unwrap().unwrap().seq, 7);
    assert_eq!(page[0].level, Level::Instance);

    assert_eq!(t.run(Command::ClearChanges).await, CommandResponse::Done);
    assert!(change_list(&t).is_empty());
    assert_eq!(
        t.reader().last_seq().unwrap(),
        7,
        "clearing does not reset Seq"
    );
    assert_eq!(t.reader().last_change().unwrap(), None);
    t.store(instance(0, 1, 2, 0), false, 4_000).await;
    let after: Vec<u64> = change_list(&t).into_iter().map(|c| c.0).collect();
    assert_eq!(after, [8, 9, 10]);
}

#[tokio::test]
async fn restore_without_and_with_overwrite() {
    let mut t = TestSm::with_fixture().await;
    let before = t.reader().counters().unwrap();
    let seq = t.reader().last_seq().unwrap();
    let first = instance(0, 0, 0, 0);
    let hash = first.attachment.hash.clone();

    let r = t.store(first.clone(), false, 50_000).await;
    assert_eq!(r, stored(StoreStatus::AlreadyStored));
    assert_eq!(t.reader().counters().unwrap(), before);
    assert_eq!(t.reader().last_seq().unwrap(), seq, "no change logged");
    assert!(t
        .reader()
        .unstable()
        .unwrap()
        .iter()
        .all(|(_, ms)| *ms != 50_000));

    // The same bytes again, replacing: one reference, nothing to collect.
    let r = t.store(first.clone(), true, 60_000).await;
    assert_eq!(r, stored(StoreStatus::Success));
    assert_eq!(t.reader().counters().unwrap(), before);
    assert_eq!(refs(&t, &hash), 1);
    assert!(garbage(&t).is_empty());
    assert_eq!(t.reader().children("series-0").unwrap().len(), 2);
    assert_eq!(t.reader().list(Level::Instance, 0, None).unwrap().len(), 9);
    assert_eq!(
        t.reader()
            .resource("series-0")
            .unwrap()
            .unwrap()
            .last_instance_ms,
        60_000
    );

    // Different bytes: the old blob becomes garbage.
    let mut changed = first.clone();
    changed.attachment.hash = format!("{:064x}", 777);
    changed.attachment.size = 150;
    changed
        .instance_tags
        .insert("InstanceNumber".into(), "42".into());
    t.store(changed.clone(), true, 70_000).await;
    assert_eq!(refs(&t, &hash), 0);
    assert_eq!(refs(&t, &changed.attachment.hash), 1);
    assert_eq!(garbage(&t), std::slice::from_ref(&hash));
    assert_eq!(
        t.reader().counters().unwrap().disk_size,
        before.disk_size + 50
    );
    let stored_now = t.reader().resource("inst-0-0").unwrap().unwrap();
    assert_eq!(stored_now.main_tags["InstanceNumber"], "42");
    let by = |v: &str| TagConstraint {
        level: Level::Instance,
        tag: "InstanceNumber".into(),
        constraint: Constraint::parse(v, false),
        case_sensitive: true,
    };
    let ids = |v: &str| -> Vec<String> {
        t.reader()
            .find(Level::Instance, &[by(v)])
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(ids("42"), ["inst-0-0"]);
    assert!(
        !ids("1").contains(&"inst-0-0".to_string()),
        "old tag index entry removed"
    );

    // Two instances sharing one blob count two references.
    let mut twin = instance(0, 0, 0, 5);
    twin.attachment = changed.attachment.clone();
    t.store(twin, false, 80_000).await;
    assert_eq!(refs(&t, &changed.attachment.hash), 2);
    t.delete("inst-0-5").await;
    assert_eq!(refs(&t, &changed.attachment.hash), 1);
    assert_eq!(garbage(&t), [hash]);
}

#[tokio::test]
async fn delete_removes_descendants_and_empty_ancestors() {
    let mut t = TestSm::with_fixture().await;
    let hashes: Vec<String> = ["inst-0-0", "inst-0-1"]
        .iter()
        .map(|id| {
            t.reader().resource(id).unwrap().unwrap().attachments["dicom"]
                .hash
                .clone()
        })
        .collect();

    let last_seq = t.reader().last_seq().unwrap();
    let r = t.delete("series-0").await;
    // Like Orthanc's schema, deleting a resource deletes its change-log rows;
    // the sequence itself goes on.
    let ids: Vec<String> = change_list(&t).into_iter().map(|c| c.2).collect();
    for id in ["series-0", "inst-0-0", "inst-0-1"] {
        assert!(!ids.iter().any(|i| i == id), "{id} still in the change log");
    }
    assert!(ids.iter().any(|i| i == "series-1"));
    assert_eq!(t.reader().last_seq().unwrap(), last_seq);
    let remaining = |level, id: &str| {
        CommandResponse::Deleted(DeleteOutcome {
            remaining_ancestor: Some((level, id.to_string())),
        })
    };
    assert_eq!(r, remaining(Level::Study, "study-0"));
    for id in ["series-0", "inst-0-0", "inst-0-1"] {
        assert_eq!(t.reader().resource(id).unwrap(), None, "{id}");
        assert!(!tag_index_mentions(&t, id), "{id} still in the tag index");
        assert!(t.reader().unstable().unwrap().iter().all(|(u, _)| u != id));
    }
    assert_eq!(t.reader().children("study-0").unwrap(), ["series-1"]);
    let mut g = garbage(&t);
    g.sort();
    let mut expected = hashes.clone();
    expected.sort();
    assert_eq!(g, expected);
    assert!(hashes.iter().all(|h| refs(&t, h) == 0));
    let c = t.reader().counters().unwrap();
    assert_eq!(
        (c.patients, c.studies, c.series, c.instances, c.disk_size),
        (2, 3, 4, 7, 703)
    );
    let uid = TagConstraint {
        level: Level::Series,
        tag: "SeriesInstanceUID".into(),
        constraint: Constraint::parse("1.2.1.0", false),
        case_sensitive: true,
    };
    assert!(t.reader().find(Level::Series, &[uid]).unwrap().is_empty());

    // The last instances of a study's only series take series and study along.
    assert_eq!(
        t.delete("inst-2-0").await,
        remaining(Level::Series, "series-2")
    );
    assert_eq!(
        t.delete("inst-2-1").await,
        remaining(Level::Patient, "pat-0")
    );
    for id in ["series-2", "study-1"] {
        assert_eq!(t.reader().resource(id).unwrap(), None, "{id}");
        assert!(!tag_index_mentions(&t, id));
    }
    assert_eq!(t.reader().children("pat-0").unwrap(), ["study-0"]);

    // A whole patient.
    assert_eq!(
        t.delete("pat-1").await,
        CommandResponse::Deleted(DeleteOutcome {
            remaining_ancestor: None
        })
    );
    assert_eq!(t.reader().list(Level::Patient, 0, None).unwrap(), ["pat-0"]);
    assert_eq!(
        t.reader().list(Level::Series, 0, None).unwrap(),
        ["series-1"]
    );
    let c = t.reader().counters().unwrap();
    assert_eq!(
        (c.patients, c.studies, c.series, c.instances, c.disk_size),
        (1, 1, 1, 2, 201)
    );
    assert_eq!(t.delete("pat-1").await, CommandResponse::UnknownResource);

    // Deleting the last instance empties the archive.
    t.delete("inst-1-0").await;
    assert_eq!(
        t.delete("inst-1-1").await,
        CommandResponse::Deleted(DeleteOutcome {
            remaining_ancestor: None
        })
    );
    assert_eq!(t.reader().counters().unwrap(), Counters::default());
    for level in Level::ALL {
        assert!(t.reader().list(level, 0, None).unwrap().is_empty());
    }
    assert!(t
        .db
        .iterator_cf(cf(&t.db, CF_TAGS), IteratorMode::Start)
        .next()
        .is_none());
    assert!(t.reader().unstable().unwrap().is_empty());
    assert_eq!(garbage(&t).len(), 9);
    assert!(change_list(&t).is_empty(), "nothing left in the change log");
    assert!(t
        .db
        .iterator_cf(cf(&t.db, CF_RESOURCE_CHANGES), IteratorMode::Start)
        .next()
        .is_none());
}

#[tokio::test]
async fn mark_stable_once_and_only_if_quiet() {
    let mut t = TestSm::with_fixture().await;
    let unstable = t.reader().unstable().unwrap();
    assert_eq!(
        unstable.len(),
        2 + 3 + 5,
        "every patient, study and series waits"
    );
    assert!(unstable.contains(&("series-0".to_string(), 2_000)));
    let mark = |id: &str, ms| Command::MarkStable {
        id: id.into(),
        last_instance_ms: ms,
        stamp: stamp(99_000),
    };
    let seq = t.reader().last_seq().unwrap();

    t.run(mark("series-0", 1_000)).await;
    assert!(
        !t.reader().resource("series-0").unwrap().unwrap().is_stable,
        "stale timer"
    );
    assert_eq!(t.reader().last_seq().unwrap(), seq);

    t.run(mark("series-0", 2_000)).await;
    assert!(t.reader().resource("series-0").unwrap().unwrap().is_stable);
    let last = t.reader().last_change().unwrap().unwrap();
    assert_eq!(
        (last.seq, last.change_type, last.id.as_str()),
        (seq + 1, ChangeType::StableSeries, "series-0")
    );
    t.run(mark("series-0", 2_000)).await;
    assert_eq!(t.reader().last_seq().unwrap(), seq + 1, "exactly once");

    t.run(mark("study-2", 8_000)).await;
    assert_eq!(
        t.reader().last_change().unwrap().unwrap().change_type,
        ChangeType::StableStudy
    );
    t.run(mark("pat-1", 8_000)).await;
    assert_eq!(
        t.reader().last_change().unwrap().unwrap().change_type,
        ChangeType::StablePatient
    );

    // A new instance makes the series unstable again, with a new timer.
    t.store(instance(0, 0, 0, 7), false, 123_000).await;
    assert!(!t.reader().resource("series-0").unwrap().unwrap().is_stable);
    assert!(t
        .reader()
        .unstable()
        .unwrap()
        .contains(&("series-0".to_string(), 123_000)));
    t.run(mark("series-0", 2_000)).await;
    assert!(!t.reader().resource("series-0").unwrap().unwrap().is_stable);

    // A deleted resource is never marked.
    t.delete("series-4").await;
    let seq = t.reader().last_seq().unwrap();
    t.run(mark("series-4", 8_000)).await;
    assert_eq!(t.reader().last_seq().unwrap(), seq);
}

#[tokio::test]
async fn metadata_set_and_delete() {
    let mut t = TestSm::with_fixture().await;
    let set = Command::SetMetadata {
        id: "study-1".into(),
        name: "Note".into(),
        value: "x".into(),
        stamp: stamp(1),
    };
    assert_eq!(t.run(set).await, CommandResponse::Done);
    assert_eq!(
        t.reader().resource("study-1").unwrap().unwrap().metadata["Note"],
        "x"
    );
    let last = t.reader().last_change().unwrap().unwrap();
    assert_eq!(
        (last.change_type, last.level),
        (ChangeType::UpdatedMetadata, Level::Study)
    );
    let del = Command::DeleteMetadata {
        id: "study-1".into(),
        name: "Note".into(),
        stamp: stamp(2),
    };
    t.run(del).await;
    assert!(!t
        .reader()
        .resource("study-1")
        .unwrap()
        .unwrap()
        .metadata
        .contains_key("Note"));
    let unknown = Command::SetMetadata {
        id: "nope".into(),
        name: "a".into(),
        value: "b".into(),
        stamp: stamp(3),
    };
    assert_eq!(t.run(unknown).await, CommandResponse::UnknownResource);
}

#[tokio::test]
async fn blob_claims_and_busy_blobs() {
    let mut t = TestSm::with_fixture().await;
    let inst = instance(0, 0, 0, 0);
    let hash = inst.attachment.hash.clone();
    let orphan = format!("{:064x}", 0xdead);
    let claim = |h: &[&String]| Command::ClaimBlobs {
        hashes: h.iter().map(|s| s.to_string()).collect(),
    };

    let r = t.run(claim(&[&hash, &orphan])).await;
    assert_eq!(
        r,
        CommandResponse::Claimed {
            hashes: vec![orphan.clone()]
        },
        "referenced blobs are refused"
    );
    assert_eq!(
        t.run(claim(&[&orphan])).await,
        CommandResponse::Claimed { hashes: vec![] },
        "claimed once"
    );
    let other = format!("{:064x}", 0xbeef);
    let r = t.run(claim(&[&other, &other])).await;
    assert_eq!(
        r,
        CommandResponse::Claimed {
            hashes: vec![other.clone()]
        },
        "listed twice, claimed once"
    );

    t.delete("inst-0-0").await;
    assert_eq!(garbage(&t), std::slice::from_ref(&hash));
    assert_eq!(
        t.run(claim(&[&hash])).await,
        CommandResponse::Claimed {
            hashes: vec![hash.clone()]
        }
    );
    let deleting = t.reader().blobs_in_state(b"deleting", 10).unwrap();
    assert_eq!(deleting.len(), 3);
    assert!(garbage(&t).is_empty());

    // Storing an instance whose blob is being collected must wait.
    let seq = t.reader().last_seq().unwrap();
    assert_eq!(
        t.store(inst.clone(), false, 10_000).await,
        CommandResponse::BlobBusy
    );
    assert_eq!(t.reader().resource("inst-0-0").unwrap(), None);
    assert_eq!(t.reader().last_seq().unwrap(), seq);
    assert!(t.reader().blob_known(&hash).unwrap());

    let done = Command::BlobsCollected {
        hashes: vec![hash.clone(), orphan.clone(), other],
    };
    assert_eq!(t.run(done).await, CommandResponse::Done);
    assert!(!t.reader().blob_known(&hash).unwrap());
    assert!(t
        .reader()
        .blobs_in_state(b"deleting", 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        t.store(inst, false, 11_000).await,
        stored(StoreStatus::Success)
    );
    assert_eq!(refs(&t, &hash), 1);
    assert!(t.reader().blob_known(&hash).unwrap());

    // A garbage blob that is referenced again is no longer garbage.
    t.delete("inst-0-1").await;
    let again = instance(0, 0, 0, 1);
    assert_eq!(garbage(&t), std::slice::from_ref(&again.attachment.hash));
    t.store(again.clone(), false, 12_000).await;
    assert!(garbage(&t).is_empty());
    assert_eq!(
        t.run(claim(&[&again.attachment.hash])).await,
        CommandResponse::Claimed { hashes: vec![] }
    );
}

#[tokio::test]
async fn blob_holders_are_recorded_updated_and_collected() {
    let mut t = TestSm::new();
    let inst = instance(0, 0, 0, 0);
    let hash = inst.attachment.hash.clone();
    let store = |i: NewInstance, holders: Vec<u64>, ms: u64| Command::StoreInstance {
        instance: Box::new(i),
        overwrite: false,
        stamp: stamp(ms),
        holders,
    };
    assert_eq!(
        t.run(store(inst.clone(), vec![3, 1], 1_000)).await,
        stored(StoreStatus::Success)
    );
    assert_eq!(t.reader().blob_holders(&hash).unwrap(), Some(vec![1, 3]));
    // The same bytes in another instance add their holders.
    let mut twin = instance(0, 0, 0, 1);
    twin.attachment = inst.attachment.clone();
    t.run(store(twin, vec![2, 3], 2_000)).await;
    assert_eq!(t.reader().blob_holders(&hash).unwrap(), Some(vec![1, 2, 3]));

    // Updates are idempotent: applied twice, same result.
    let update = Command::UpdateBlobHolders {
        hash: hash.clone(),
        add: vec![4],
        remove: vec![1, 2],
    };
    assert_eq!(t.run(update.clone()).await, CommandResponse::Done);
    assert_eq!(t.run(update).await, CommandResponse::Done);
    assert_eq!(t.reader().blob_holders(&hash).unwrap(), Some(vec![3, 4]));
    assert_eq!(
        t.reader().replicated_blobs(None, 10).unwrap(),
        vec![(hash.clone(), vec![3, 4])]
    );
    // Every copy lost: an empty list, not a forgotten blob.
    t.run(Command::UpdateBlobHolders {
        hash: hash.clone(),
        add: vec![],
        remove: vec![3, 4],
    })
    .await;
    assert_eq!(t.reader().blob_holders(&hash).unwrap(), Some(vec![]));

    // Shared mode (no holders) records nothing.
    let plain = instance(0, 0, 0, 2);
    t.run(store(plain.clone(), vec![], 3_000)).await;
    assert_eq!(
        t.reader().blob_holders(&plain.attachment.hash).unwrap(),
        None
    );

    // Unreferenced blobs are neither repaired nor given holders; collection forgets them.
    t.delete("pat-0").await;
    assert!(t.reader().replicated_blobs(None, 10).unwrap().is_empty());
    let late = Command::UpdateBlobHolders {
        hash: hash.clone(),
        add: vec![1],
        remove: vec![],
    };
    assert_eq!(t.run(late).await, CommandResponse::UnknownResource);
    assert_eq!(t.reader().blob_holders(&hash).unwrap(), Some(vec![]));
    t.run(Command::ClaimBlobs {
        hashes: vec![hash.clone()],
    })
    .await;
    t.run(Command::BlobsCollected {
        hashes: vec![hash.clone()],
    })
    .await;
    assert_eq!(t.reader().blob_holders(&hash).unwrap(), None);
}

#[tokio::test]
async fn replicated_blobs_are_paged_in_hash_order() {
    let mut t = TestSm::new();
    for n in 0..5 {
        let i = instance(0, 0, 0, n);
        t.run(Command::StoreInstance {
            instance: Box::new(i),
            overwrite: false,
            stamp: stamp(1_000),
            holders: vec![1],
        })
        .await;
    }
    let first = t.reader().replicated_blobs(None, 2).unwrap();
    let rest = t.reader().replicated_blobs(Some(&first[1].0), 10).unwrap();
    assert_eq!((first.len(), rest.len()), (2, 3));
    let all: Vec<String> = first.into_iter().chain(rest).map(|(h, _)| h).collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
}
