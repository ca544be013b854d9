//! Group commit: index writes that arrive while one is in flight share the
//! next Raft entry.
//!
//! openraft appends and flushes the log once per entry, so N clients storing
//! instances at once used to cost N log flushes in a row. Every
//! [`super::Node::write`] goes through one queue instead: a write that finds
//! the queue idle is proposed at once, alone (no added latency for a single
//! client); writes arriving meanwhile wait and are proposed together as one
//! [`Command::Batch`] entry as soon as the previous proposal is answered. The
//! state machine applies a batch command by command, in order, exactly as if
//! they had been proposed one after the other.

use tokio::sync::{mpsc, oneshot};

use super::{forward, Peers};
use crate::index::raft::{NodeId, Raft};
use crate::index::{Command, CommandResponse, IndexError};

/// At most this many commands share one entry (keeps entries, forwarded
/// messages and snapshots of the log small: a `StoreInstance` is a few KiB).
const MAX_GROUP: usize = 64;

type Reply = oneshot::Sender<Result<CommandResponse, IndexError>>;

/// The sending side of the write queue; cheap to clone.
#[derive(Clone)]
pub(crate) struct Batcher {
    queue: mpsc::UnboundedSender<(Command, Reply)>,
}

impl Batcher {
    /// Starts the task that proposes queued writes through `raft` (forwarding
    /// them to the leader from a follower). It ends when every `Batcher` is gone.
    pub(crate) fn spawn(raft: Raft, me: NodeId, peers: Option<Peers>) -> Batcher {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(pending, raft, me, peers));
        Batcher { queue }
    }

    /// Queues `command` and waits for its response.
    pub(crate) async fn write(&self, command: Command) -> Result<CommandResponse, IndexError> {
        let (reply, response) = oneshot::channel();
        self.queue
            .send((command, reply))
            .map_err(|_| IndexError::ShuttingDown)?;
        response.await.map_err(|_| IndexError::ShuttingDown)?
    }
}

async fn run(
    mut pending: mpsc::UnboundedReceiver<(Command, Reply)>,
    raft: Raft,
    me: NodeId,
    peers: Option<Peers>,
) {
    while let Some(first) = pending.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match pending.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        if group.len() == 1 {
            let (command, reply) = group.pop().expect("one write");
            let _ = reply.send(forward::write(&raft, me, peers.as_ref(), command).await);
            continue;
        }
        let (commands, replies): (Vec<Command>, Vec<Reply>) = group.into_iter().unzip();
        let count = commands.len();
        match forward::write(&raft, me, peers.as_ref(), Command::Batch(commands)).await {
            Ok(CommandResponse::Batch(responses)) if responses.len() == count => {
                for (reply, response) in replies.into_iter().zip(responses) {
                    let _ = reply.send(Ok(response));
                }
            }
            Ok(other) => {
                let message =
                    format!("unexpected answer to a batch of {count} commands: {other:?}");
                for reply in replies {
                    let _ = reply.send(Err(IndexError::Corrupt(message.clone())));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(duplicate(&e)));
                }
            }
        }
    }
}

/// The same error for another waiter of a failed batch.
fn duplicate(e: &IndexError) -> IndexError {
    match e {
        IndexError::Open(e) => IndexError::Storage(e.to_string()),
        IndexError::Storage(s) => IndexError::Storage(s.clone()),
        IndexError::NoLeader => IndexError::NoLeader,
        IndexError::ShuttingDown => IndexError::ShuttingDown,
        IndexError::Corrupt(s) => IndexError::Corrupt(s.clone()),
    }
}

#[cfg(test)]
mod tests {
    use crate::cluster::Node;
    use crate::index::{
        Attachment, Command, CommandResponse, NewInstance, Stamp, StoreOutcome, StoreStatus,
    };

    /// Instance `k` of one series (its SOP instance UID is `1.2.3.k`).
    fn store(k: u64) -> Command {
        let tags = |pairs: &[(&str, String)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        let instance = NewInstance {
            patient_id: "pat".into(),
            study_id: "study".into(),
            series_id: "series".into(),
            instance_id: format!("inst-{k}"),
            patient_tags: tags(&[("PatientID", "P".into())]),
            study_tags: tags(&[("StudyInstanceUID", "1.2".into())]),
            series_tags: tags(&[("SeriesInstanceUID", "1.2.3".into())]),
            instance_tags: tags(&[("SOPInstanceUID", format!("1.2.3.{k}"))]),
            metadata: Default::default(),
            attachment: Attachment {
                hash: format!("{:064x}", 5_000 + k),
                size: 100,
                uncompressed_size: 100,
                md5: String::new(),
                compressed: false,
                revision: 0,
            },
        };
        Command::StoreInstance {
            instance: Box::new(instance),
            overwrite: false,
            stamp: Stamp {
                unix_ms: 1_000 + k,
                date: "20240101T000001".into(),
            },
            holders: vec![],
        }
    }

    /// Through a real one-node Raft: concurrent writers all get their own
    /// answer, and share log entries.
    #[tokio::test]
    async fn concurrent_writes_share_log_entries() {
        let dir = tempfile::TempDir::new().unwrap();
        let node = Node::open_single(dir.path()).await.unwrap();
        let before = node.raft().metrics().borrow().last_log_index.unwrap();
        // 32 writes of 28 new instances: one duplicate per 8.
        let writes = (0..32u64).map(|k| {
            let node = node.clone();
            tokio::spawn(async move { node.write(store(k % 28)).await.unwrap() })
        });
        let responses = futures::future::join_all(writes).await;
        let statuses: Vec<CommandResponse> = responses.into_iter().map(|r| r.unwrap()).collect();
        let count = |status: StoreStatus| {
            let wanted = CommandResponse::Stored(StoreOutcome { status });
            statuses.iter().filter(|r| **r == wanted).count()
        };
        let counts = (
            count(StoreStatus::Success),
            count(StoreStatus::AlreadyStored),
        );
        assert_eq!(counts, (28, 4), "{statuses:?}");
        assert_eq!(node.reader().counters().unwrap().instances, 28);
        let entries = node.raft().metrics().borrow().last_log_index.unwrap() - before;
        assert!(
            entries < 32,
            "32 concurrent writes took {entries} log entries"
        );
        node.shutdown().await;
    }
}
