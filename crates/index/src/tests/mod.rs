//! Tests of the index state machine over a temporary RocksDB: a [`TestSm`]
//! applies commands as committed Raft entries (no Raft running), and a fixture
//! archive of 2 patients, 3 studies and 5 series gives the queries something to
//! find. `restart` runs the stores under a real one-member openraft (the group
//! commit and the node handle are tested with the Raft node, `isengard::cluster`).

mod batch;
mod find;
mod restart;
mod snapshot;
mod write;

use std::sync::Arc;

use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
use rocksdb::DB;
use tempfile::TempDir;

use super::model::*;
use super::raft::TypeConfig;
use super::read::Reader;
use super::state_machine::StateMachine;
use super::store;
use openraft::storage::RaftStateMachine;

/// A state machine on a fresh database, fed entries with increasing log ids.
pub struct TestSm {
    pub dir: TempDir,
    pub db: Arc<DB>,
    pub sm: StateMachine,
    next_index: u64,
}

impl TestSm {
    pub fn new() -> TestSm {
        let dir = TempDir::new().unwrap();
        let db = store::open(&dir.path().join("rocksdb")).unwrap();
        let sm = StateMachine::open(db.clone(), dir.path().join("snapshots")).unwrap();
        TestSm {
            dir,
            db,
            sm,
            next_index: 1,
        }
    }

    /// Applies one command as the next committed log entry.
    pub async fn run(&mut self, command: Command) -> CommandResponse {
        let entry = Entry::<TypeConfig> {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), self.next_index),
            payload: EntryPayload::Normal(command),
        };
        self.next_index += 1;
        let mut out = self.sm.apply([entry]).await.unwrap();
        assert_eq!(out.len(), 1);
        out.pop().unwrap()
    }

    pub async fn store(
        &mut self,
        instance: NewInstance,
        overwrite: bool,
        ms: u64,
    ) -> CommandResponse {
        self.run(Command::StoreInstance {
            instance: Box::new(instance),
            overwrite,
            stamp: stamp(ms),
            holders: vec![],
        })
        .await
    }

    pub async fn delete(&mut self, id: &str) -> CommandResponse {
        self.run(Command::DeleteResource {
            id: id.into(),
            stamp: stamp(9_000_000),
        })
        .await
    }

    pub fn reader(&self) -> Reader<'_> {
        Reader::new(&self.db)
    }

    /// Stores the fixture archive, instance `k` at `1_000 * (k + 1)` ms.
    pub async fn with_fixture() -> TestSm {
        let mut t = TestSm::new();
        for (k, i) in fixture().into_iter().enumerate() {
            let r = t.store(i, false, 1_000 * (k as u64 + 1)).await;
            assert_eq!(r, stored(StoreStatus::Success));
        }
        t
    }
}

pub fn stamp(ms: u64) -> Stamp {
    Stamp {
        unix_ms: ms,
        date: format!("20240101T{:06}", ms / 1000),
    }
}

/// Stores `i` without overwriting, proposed at `ms`.
pub fn store_cmd(i: NewInstance, ms: u64) -> Command {
    Command::StoreInstance {
        instance: Box::new(i),
        overwrite: false,
        stamp: stamp(ms),
        holders: vec![],
    }
}

pub fn stored(status: StoreStatus) -> CommandResponse {
    CommandResponse::Stored(StoreOutcome { status })
}

fn tags(pairs: &[(&str, &str)]) -> MainTags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One instance of the fixture: `(patient, study, series, instance)` indexes.
pub fn instance(p: usize, st: usize, se: usize, n: usize) -> NewInstance {
    let patients = [
        ("DOE^JOHN", "P1", "19700101"),
        ("Müller^Élodie", "P2", "19851224"),
    ];
    let studies = [
        ("20200115", "CT CHEST", "1.2.1", 0),
        ("20210610", "MR BRAIN", "1.2.2", 0),
        ("20220301", "abdomen", "1.2.3", 1),
    ];
    let series = [
        ("CT", "1", 0),
        ("MR", "2", 0),
        ("CT", "1", 1),
        ("MR", "1", 2),
        ("US", "2", 2),
    ];
    let (name, pid, birth) = patients[p];
    let (date, desc, uid, owner) = studies[st];
    let (modality, number, study_of) = series[se];
    assert_eq!((owner, study_of), (p, st), "fixture hierarchy");
    let hash = format!("{:064x}", 1 + 1000 * se + n);
    NewInstance {
        patient_id: format!("pat-{p}"),
        study_id: format!("study-{st}"),
        series_id: format!("series-{se}"),
        instance_id: format!("inst-{se}-{n}"),
        patient_tags: tags(&[
            ("PatientName", name),
            ("PatientID", pid),
            ("PatientBirthDate", birth),
        ]),
        study_tags: tags(&[
            ("StudyDate", date),
            ("StudyDescription", desc),
            ("StudyInstanceUID", uid),
            ("AccessionNumber", &format!("ACC{st}")),
        ]),
        series_tags: tags(&[
            ("Modality", modality),
            ("SeriesNumber", number),
            ("SeriesInstanceUID", &format!("{uid}.{se}")),
        ]),
        instance_tags: tags(&[
            ("SOPInstanceUID", &format!("{uid}.{se}.{n}")),
            ("InstanceNumber", &(n + 1).to_string()),
        ]),
        metadata: [("RemoteAET".to_string(), "MODALITY".to_string())]
            .into_iter()
            .collect(),
        attachment: Attachment {
            hash,
            size: 100 + n as u64,
            uncompressed_size: 200 + n as u64,
            md5: String::new(),
            ..Default::default()
        },
    }
}

/// 2 patients, 3 studies, 5 series, 9 instances, in storing order.
pub fn fixture() -> Vec<NewInstance> {
    vec![
        instance(0, 0, 0, 0),
        instance(0, 0, 0, 1),
        instance(0, 0, 1, 0),
        instance(0, 1, 2, 0),
        instance(0, 1, 2, 1),
        instance(1, 2, 3, 0),
        instance(1, 2, 3, 1),
        instance(1, 2, 4, 0),
        instance(0, 0, 1, 1),
    ]
}
