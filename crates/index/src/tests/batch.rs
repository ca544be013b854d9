//! Group commit: a `Batch` entry leaves the index exactly as its commands
//! proposed one by one would, and a batch interrupted in the middle resumes
//! after the commands it had applied.

use openraft::storage::RaftStateMachine;

use super::snapshot::dump;
use super::*;

/// The fixture, a duplicate, a metadata write and a delete: commands that read
/// what the ones before them wrote (new series, new study, the duplicate).
fn commands() -> Vec<Command> {
    let mut out: Vec<Command> = fixture()
        .into_iter()
        .enumerate()
        .map(|(k, i)| store_cmd(i, 1_000 * (k as u64 + 1)))
        .collect();
    out.push(store_cmd(instance(0, 0, 0, 1), 50_000));
    out.push(Command::SetMetadata {
        id: "series-1".into(),
        name: "n".into(),
        value: "v".into(),
        stamp: stamp(60_000),
    });
    out.push(Command::DeleteResource {
        id: "study-1".into(),
        stamp: stamp(70_000),
    });
    out
}

async fn one_by_one() -> (TestSm, Vec<CommandResponse>) {
    let mut t = TestSm::new();
    let mut responses = Vec::new();
    for command in commands() {
        responses.push(t.run(command).await);
    }
    (t, responses)
}

#[tokio::test]
async fn a_batch_applies_as_its_commands_one_by_one() {
    let (reference, expected) = one_by_one().await;
    assert_eq!(
        expected[9],
        stored(StoreStatus::AlreadyStored),
        "the duplicate sees the first copy"
    );

    let mut t = TestSm::new();
    let response = t.run(Command::Batch(commands())).await;
    assert_eq!(response, CommandResponse::Batch(expected));
    assert_eq!(dump(&t.reader()), dump(&reference.reader()));
    // And later commands see the same state.
    assert_eq!(
        t.store(instance(0, 0, 0, 0), false, 80_000).await,
        stored(StoreStatus::AlreadyStored)
    );
}

#[tokio::test]
async fn an_interrupted_batch_resumes_after_what_it_applied() {
    let (reference, _) = one_by_one().await;
    for crash_after in [1, 4, commands().len() - 1] {
        let mut t = TestSm::new();
        t.sm.crash_in_batch_after = Some(crash_after);
        let entry = Entry::<TypeConfig> {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), 1),
            payload: EntryPayload::Normal(Command::Batch(commands())),
        };
        assert!(
            t.sm.apply([entry.clone()]).await.is_err(),
            "simulated crash"
        );
        let (applied, _) = t.sm.applied_state().await.unwrap();
        assert_eq!(applied, None, "a half-applied batch is not applied");
        assert_eq!(
            t.reader().counters().unwrap().instances as usize,
            crash_after.min(9)
        );

        // The node restarts and openraft applies the entry again.
        let mut sm = StateMachine::open(t.db.clone(), t.dir.path().join("snapshots")).unwrap();
        let responses = sm.apply([entry]).await.unwrap();
        let CommandResponse::Batch(responses) = &responses[0] else {
            panic!("{responses:?}")
        };
        assert_eq!(responses.len(), commands().len());
        assert!(responses[..crash_after]
            .iter()
            .all(|r| *r == CommandResponse::None));
        assert_eq!(
            dump(&t.reader()),
            dump(&reference.reader()),
            "crash after {crash_after}"
        );
        assert_eq!(
            sm.applied_state().await.unwrap().0.map(|l| l.index),
            Some(1)
        );
    }
}
