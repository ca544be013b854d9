//! Snapshots: one built from a state machine and installed into another gives
//! the same answers to every read, and the same results to later commands.

use std::fmt::Write;

use openraft::RaftSnapshotBuilder;
use tokio::io::AsyncReadExt;

use super::*;
use crate::find::TagConstraint;
use crate::normalize::Constraint;

/// Every read the index offers, rendered as text for comparison.
pub fn dump(r: &Reader<'_>) -> String {
    let mut out = String::new();
    writeln!(out, "counters {:?}", r.counters().unwrap()).unwrap();
    writeln!(out, "last_seq {}", r.last_seq().unwrap()).unwrap();
    writeln!(out, "changes {:?}", r.changes(0, 10_000).unwrap()).unwrap();
    let mut unstable = r.unstable().unwrap();
    unstable.sort();
    writeln!(out, "unstable {unstable:?}").unwrap();
    for state in [&b"garbage"[..], b"deleting"] {
        writeln!(out, "blobs {:?}", r.blobs_in_state(state, 10_000).unwrap()).unwrap();
    }
    for level in Level::ALL {
        for id in r.list(level, 0, None).unwrap() {
            writeln!(out, "{:?}", r.resource(&id).unwrap()).unwrap();
            writeln!(out, "  children {:?}", r.children(&id).unwrap()).unwrap();
        }
    }
    let queries = [
        (Level::Series, Level::Patient, "PatientName", "DOE*"),
        (Level::Study, Level::Series, "Modality", "MR"),
        (Level::Instance, Level::Study, "StudyDate", "20200101-"),
        (Level::Patient, Level::Patient, "PatientName", "*o*"),
    ];
    for (target, level, tag, value) in queries {
        let q = TagConstraint {
            level,
            tag: tag.into(),
            constraint: Constraint::parse(value, tag.ends_with("Date")),
            case_sensitive: false,
        };
        let found: Vec<String> = r
            .find(target, &[q])
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        writeln!(out, "find {target:?} {tag}={value}: {found:?}").unwrap();
    }
    out
}

/// Builds a snapshot of `from` and installs it into `to`.
async fn transfer(
    from: &mut TestSm,
    to: &mut TestSm,
) -> openraft::SnapshotMeta<u64, openraft::BasicNode> {
    let snap = from
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let mut bytes = Vec::new();
    let mut file = snap.snapshot;
    file.read_to_end(&mut bytes).await.unwrap();
    let mut incoming = to.sm.begin_receiving_snapshot().await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut *incoming, &bytes)
        .await
        .unwrap();
    to.sm.install_snapshot(&snap.meta, incoming).await.unwrap();
    snap.meta
}

async fn busy_archive() -> TestSm {
    let mut t = TestSm::with_fixture().await;
    t.delete("series-0").await;
    t.run(Command::ClearChanges).await;
    let mark = Command::MarkStable {
        id: "series-4".into(),
        last_instance_ms: 8_000,
        stamp: stamp(1),
    };
    t.run(mark).await;
    let meta = Command::SetMetadata {
        id: "pat-1".into(),
        name: "n".into(),
        value: "v".into(),
        stamp: stamp(2),
    };
    t.run(meta).await;
    let hash = instance(0, 0, 0, 0).attachment.hash;
    t.run(Command::ClaimBlobs { hashes: vec![hash] }).await;
    t
}

#[tokio::test]
async fn installed_snapshot_reads_the_same() {
    let mut leader = busy_archive().await;
    // The follower had different state, which the snapshot must replace.
    let mut follower = TestSm::new();
    follower.store(instance(1, 2, 4, 9), false, 5).await;
    follower.store(instance(0, 1, 2, 9), false, 6).await;

    let meta = transfer(&mut leader, &mut follower).await;
    assert_eq!(dump(&follower.reader()), dump(&leader.reader()));
    let (applied, _) = follower.sm.applied_state().await.unwrap();
    assert_eq!(applied, meta.last_log_id);
    assert_eq!(applied, leader.sm.applied_state().await.unwrap().0);
    let current = follower.sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, meta);

    // Later commands give the same results on both: the cached sequences and
    // counters were reloaded from the snapshot.
    follower.next_index = leader.next_index;
    for t in [&mut leader, &mut follower] {
        t.store(instance(0, 0, 0, 3), false, 500_000).await;
        t.delete("inst-3-1").await;
        t.store(instance(1, 2, 4, 1), false, 600_000).await;
    }
    assert_eq!(dump(&follower.reader()), dump(&leader.reader()));
}

#[tokio::test]
async fn snapshot_of_an_empty_state_machine_empties_the_target() {
    let mut empty = TestSm::new();
    let mut full = TestSm::with_fixture().await;
    transfer(&mut empty, &mut full).await;
    assert_eq!(dump(&full.reader()), dump(&empty.reader()));
    assert_eq!(full.sm.applied_state().await.unwrap().0, None);
    full.store(instance(0, 0, 0, 0), false, 1).await;
    let (changes, _) = full.reader().changes(0, 10).unwrap();
    assert_eq!(changes[0].seq, 1);
    assert_eq!(
        full.reader()
            .resource("pat-0")
            .unwrap()
            .unwrap()
            .created_seq,
        3
    );
}

#[tokio::test]
async fn snapshot_survives_reopening() {
    let mut leader = busy_archive().await;
    let meta = leader
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap()
        .meta;
    let before = dump(&leader.reader());
    let TestSm { dir, db, sm, .. } = leader;
    drop(sm);
    drop(db);
    let db = store::open(&dir.path().join("rocksdb")).unwrap();
    let mut sm = StateMachine::open(db.clone(), dir.path().join("snapshots")).unwrap();
    assert_eq!(dump(&Reader::new(&db)), before);
    let current = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("snapshot kept");
    assert_eq!(current.meta, meta);
    assert_eq!(sm.applied_state().await.unwrap().0, meta.last_log_id);
}

/// A record left without its file (a crash during an install) must not stop
/// the node: openraft reads the current snapshot at startup.
#[tokio::test]
async fn snapshot_record_without_file_is_no_snapshot() {
    let mut t = busy_archive().await;
    t.sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    for item in std::fs::read_dir(t.dir.path().join("snapshots")).unwrap() {
        std::fs::remove_file(item.unwrap().path()).unwrap();
    }
    assert!(t.sm.get_current_snapshot().await.unwrap().is_none());
    let rebuilt =
        t.sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
    assert_eq!(
        t.sm.get_current_snapshot().await.unwrap().unwrap().meta,
        rebuilt.meta
    );
}

#[tokio::test]
async fn unfinished_snapshot_files_are_removed_at_start() {
    let t = TestSm::new();
    let dir = t.dir.path().join("snapshots");
    let stale = [dir.join("incoming-1.part"), dir.join("building-2.part")];
    for f in &stale {
        std::fs::write(f, b"half a snapshot").unwrap();
    }
    let _sm = StateMachine::open(t.db.clone(), dir.clone()).unwrap();
    for f in &stale {
        assert!(!f.exists(), "{} survived", f.display());
    }
}
