//! A real single-node Raft on a directory: writes survive a restart, and
//! entries committed but not yet applied are applied when the node reopens.

use std::collections::BTreeMap;
use std::path::Path;

use openraft::error::{InstallSnapshotError, RPCError, RaftError};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, RaftLogReader};

use super::snapshot::dump;
use super::*;
use crate::log_store::LogStore;
use crate::raft::{NodeId, Raft};
use crate::IndexDb;

/// The index under a real openraft of one member, as a node runs it.
struct Index {
    db: IndexDb,
    raft: Raft,
}

impl Index {
    async fn write(&self, command: Command) -> Result<CommandResponse, String> {
        let r = self.raft.client_write(command).await;
        r.map(|r| r.data).map_err(|e| e.to_string())
    }

    fn reader(&self) -> Reader<'_> {
        self.db.reader()
    }

    fn raft(&self) -> &Raft {
        &self.raft
    }

    fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(1)
    }
}

async fn open(dir: &Path) -> Index {
    let db = IndexDb::open(dir).unwrap();
    let config = std::sync::Arc::new(openraft::Config::default().validate().unwrap());
    let sm = db.state_machine().unwrap();
    let raft = Raft::new(1, config, Alone, db.log_store(), sm)
        .await
        .unwrap();
    if !raft.is_initialized().await.unwrap() {
        let members = BTreeMap::from([(1, BasicNode::new("local"))]);
        raft.initialize(members).await.unwrap();
    }
    let timeout = Some(std::time::Duration::from_secs(30));
    raft.wait(timeout)
        .metrics(|m| m.current_leader == Some(1), "leader")
        .await
        .unwrap();
    Index { db, raft }
}

async fn close(index: Index) {
    index.raft.shutdown().await.unwrap();
    drop(index);
}

/// A one-member cluster never sends a message: any call is a bug of the test.
struct Alone;

impl RaftNetworkFactory<TypeConfig> for Alone {
    type Network = Alone;

    async fn new_client(&mut self, _target: NodeId, _node: &BasicNode) -> Alone {
        Alone
    }
}

impl RaftNetwork<TypeConfig> for Alone {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        unreachable!("a one-member cluster appends to no one")
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        unreachable!("a one-member cluster sends no snapshot")
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        unreachable!("a one-member cluster asks no one for votes")
    }
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = TempDir::new().unwrap();
    let index = open(dir.path()).await;
    assert!(index.is_leader());
    for (k, i) in fixture().into_iter().enumerate() {
        let r = index
            .write(store_cmd(i, 1_000 * (k as u64 + 1)))
            .await
            .unwrap();
        assert_eq!(r, stored(StoreStatus::Success));
    }
    let r = index
        .write(Command::DeleteResource {
            id: "study-1".into(),
            stamp: stamp(1),
        })
        .await
        .unwrap();
    assert!(matches!(r, CommandResponse::Deleted(_)));
    let before = dump(&index.reader());
    close(index).await;

    let index = open(dir.path()).await;
    assert_eq!(dump(&index.reader()), before);
    let r = index
        .write(store_cmd(instance(0, 1, 2, 0), 50_000))
        .await
        .unwrap();
    assert_eq!(
        r,
        stored(StoreStatus::Success),
        "study-1 was deleted before the restart"
    );
    let r = index
        .write(store_cmd(instance(0, 0, 0, 0), 60_000))
        .await
        .unwrap();
    assert_eq!(r, stored(StoreStatus::AlreadyStored));
    let c = index.reader().counters().unwrap();
    assert_eq!((c.patients, c.studies, c.series, c.instances), (2, 3, 5, 8));
    close(index).await;

    let index = open(dir.path()).await;
    assert_eq!(index.reader().counters().unwrap(), c);
    close(index).await;
}

/// Simulates a crash between commit and apply: entries are appended to the log
/// and marked committed behind the node's back, then the node reopens.
#[tokio::test]
async fn committed_entries_are_applied_on_restart() {
    let dir = TempDir::new().unwrap();
    let index = open(dir.path()).await;
    index
        .write(store_cmd(instance(0, 0, 0, 0), 1_000))
        .await
        .unwrap();
    close(index).await;

    {
        let db = store::open(&dir.path().join("rocksdb")).unwrap();
        let mut log = LogStore::new(db.clone());
        let last = log.get_log_state().await.unwrap().last_log_id.unwrap();
        assert_eq!(log.read_committed().await.unwrap(), Some(last));
        let entries: Vec<Entry<TypeConfig>> = [instance(0, 0, 0, 1), instance(1, 2, 3, 0)]
            .into_iter()
            .enumerate()
            .map(|(k, i)| Entry {
                log_id: LogId::new(last.leader_id, last.index + 1 + k as u64),
                payload: EntryPayload::Normal(store_cmd(i, 2_000 + k as u64)),
            })
            .collect();
        let committed = entries.last().unwrap().log_id;
        // `LogFlushed` cannot be built outside openraft: write as `append` does.
        for e in &entries {
            let key = store::u64_key(e.log_id.index);
            db.put_cf(
                store::cf(&db, store::CF_RAFT_LOG),
                key,
                serde_json::to_vec(e).unwrap(),
            )
            .unwrap();
        }
        log.save_committed(Some(committed)).await.unwrap();
        assert_eq!(
            log.try_get_log_entries(last.index + 1..)
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(Reader::new(&db).resource("inst-0-1").unwrap(), None);
    }

    let index = open(dir.path()).await;
    let r = index.reader();
    assert!(
        r.resource("inst-0-1").unwrap().is_some(),
        "committed entry re-applied"
    );
    assert!(r.resource("inst-3-0").unwrap().is_some());
    let c = r.counters().unwrap();
    assert_eq!((c.patients, c.studies, c.series, c.instances), (2, 2, 2, 3));
    close(index).await;
}

/// A snapshot, a purged log and a restart: the state machine is already there,
/// and the log starts after the purge.
#[tokio::test]
async fn restart_after_snapshot_and_purge() {
    let dir = TempDir::new().unwrap();
    let index = open(dir.path()).await;
    for (k, i) in fixture().into_iter().enumerate() {
        index
            .write(store_cmd(i, 1_000 * (k as u64 + 1)))
            .await
            .unwrap();
    }
    let applied = index.raft().metrics().borrow().last_applied.unwrap();
    let timeout = Some(std::time::Duration::from_secs(10));
    index.raft().trigger().snapshot().await.unwrap();
    index
        .raft()
        .wait(timeout)
        .snapshot(applied, "snapshot built")
        .await
        .unwrap();
    index
        .raft()
        .trigger()
        .purge_log(applied.index)
        .await
        .unwrap();
    index
        .raft()
        .wait(timeout)
        .purged(Some(applied), "log purged")
        .await
        .unwrap();
    index
        .write(Command::DeleteResource {
            id: "series-4".into(),
            stamp: stamp(1),
        })
        .await
        .unwrap();
    let before = dump(&index.reader());
    close(index).await;

    {
        let db = store::open(&dir.path().join("rocksdb")).unwrap();
        let mut log = LogStore::new(db);
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(applied));
        assert_eq!(
            log.try_get_log_entries(0..=applied.index).await.unwrap(),
            vec![]
        );
    }

    let index = open(dir.path()).await;
    assert_eq!(dump(&index.reader()), before);
    let r = index
        .write(store_cmd(instance(1, 2, 4, 0), 70_000))
        .await
        .unwrap();
    assert_eq!(r, stored(StoreStatus::Success));
    assert_eq!(index.reader().counters().unwrap().series, 5);
    close(index).await;
}
