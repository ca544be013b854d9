//! Group commit: index writes that arrive while one is in flight share the
//! next Raft entry.
//!
//! openraft appends and flushes the log once per entry, so N clients storing
//! instances at once used to cost N log flushes in a row. Every
//! [`super::Index::write`] goes through one queue instead: a write that finds
//! the queue idle is proposed at once, alone (no added latency for a single
//! client); writes arriving meanwhile wait and are proposed together as one
//! [`Command::Batch`] entry as soon as the previous proposal is answered. The
//! state machine applies a batch command by command, in order, exactly as if
//! they had been proposed one after the other.

use tokio::sync::{mpsc, oneshot};

use super::raft::{NodeId, Raft};
use super::{Command, CommandResponse, IndexError};
use crate::cluster::{forward, Peers};

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
                    let _ = reply.send(Err(e.duplicate()));
                }
            }
        }
    }
}

impl IndexError {
    /// The same error for another waiter of a failed batch.
    fn duplicate(&self) -> IndexError {
        match self {
            IndexError::Open(e) => IndexError::Storage(e.to_string()),
            IndexError::Storage(s) => IndexError::Storage(s.clone()),
            IndexError::NoLeader => IndexError::NoLeader,
            IndexError::ShuttingDown => IndexError::ShuttingDown,
            IndexError::Corrupt(s) => IndexError::Corrupt(s.clone()),
        }
    }
}
