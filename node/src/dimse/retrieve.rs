//! C-MOVE and C-GET SCP. The identifier selects resources as a C-FIND does
//! (service::find, the index's constraints only); their instances are sent
//! one file at a time:
//! - C-MOVE: to the destination modality (`MoveDestination`, looked up by AE
//!   title: unknown is A801) through a [`StoreSession`] of the SCU;
//! - C-GET: as C-STORE sub-operations on the requester's own association,
//!   over the storage contexts it negotiated (SCP role).
//!
//! A pending response with the sub-operation counts follows each instance;
//! C-CANCEL is honoured between instances (final status FE00).

use dicom_dictionary_std::tags;

use super::association::{cancel_requested, respond, Assoc, Session};
use super::find::identifier;
use super::DimseError;
use crate::index::Level;
use crate::service::find::Wildcards;
use crate::service::ServiceError;
use isengard_dimse::message::{status, write_message, CommandBuilder, Message, MessageError};
use isengard_dimse::scu::{store_on, ScuError};

#[derive(Debug, Default)]
struct Counts {
    remaining: usize,
    completed: u16,
    failed: u16,
    warning: u16,
}

impl Counts {
    fn response(
        &self,
        field: u16,
        msg: &Message,
        status: u16,
        with_remaining: bool,
    ) -> CommandBuilder {
        let mut b = CommandBuilder::response_to(field, msg, status);
        if with_remaining {
            b = b.u16(
                tags::NUMBER_OF_REMAINING_SUBOPERATIONS,
                self.remaining.min(u16::MAX as usize) as u16,
            );
        }
        b.u16(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS, self.completed)
            .u16(tags::NUMBER_OF_FAILED_SUBOPERATIONS, self.failed)
            .u16(tags::NUMBER_OF_WARNING_SUBOPERATIONS, self.warning)
    }

    /// Final status: success, or B000 when some sub-operations failed.
    fn final_status(&self) -> u16 {
        if self.failed > 0 || self.warning > 0 {
            status::WARNING_SUBOPERATIONS
        } else {
            status::SUCCESS
        }
    }
}

/// The instance ids an identifier designates, in creation order.
fn instances(s: &Session, msg: &Message) -> Result<Vec<String>, DimseError> {
    let id = identifier(s, msg)?;
    let mut out = Vec::new();
    for r in s.archive.select(&id.request(s, Wildcards::Anywhere)?)? {
        out.extend(s.archive.descendants(&r.id, Level::Instance)?);
    }
    Ok(out)
}

#[tracing::instrument(skip_all, fields(calling_aet = %s.calling_aet, destination = tracing::field::Empty))]
pub(super) async fn handle_move(
    s: &Session,
    assoc: &mut Assoc,
    msg: Message,
) -> Result<(), MessageError> {
    const RSP: u16 = isengard_dimse::message::field::C_MOVE_RSP;
    let destination = msg.string(tags::MOVE_DESTINATION).unwrap_or_default();
    tracing::Span::current().record("destination", destination.as_str());
    let modality = match s.archive.modality_by_aet(&destination) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return respond(
                assoc,
                &msg,
                RSP,
                Err(DimseError::UnknownDestination(destination)),
            )
            .await
        }
        Err(e) => return respond(assoc, &msg, RSP, Err(e.into())).await,
    };
    let ids = match instances(s, &msg) {
        Ok(ids) => ids,
        Err(e) => return respond(assoc, &msg, RSP, Err(e)).await,
    };
    let mut counts = Counts {
        remaining: ids.len(),
        ..Default::default()
    };
    if ids.is_empty() {
        return write_message(
            assoc,
            msg.context_id,
            &counts.response(RSP, &msg, status::SUCCESS, false).build(),
            None,
        )
        .await;
    }
    let own_aet = s.archive.config().dicom_aet.clone();
    let target = s.archive.scu_target(&modality, Some(&own_aet), None);
    let originator = Some((s.calling_aet.as_str(), msg.message_id()));
    let session = match s.archive.open_sender(&target, &ids, originator).await {
        Ok(session) => session,
        Err(e) => {
            let e = match e {
                ServiceError::Scu { source, .. } => source.to_string(),
                other => other.to_string(),
            };
            let e = DimseError::UnableToProcess(format!("cannot reach {destination}: {e}"));
            return respond(assoc, &msg, RSP, Err(e)).await;
        }
    };
    let mut session = session;
    for id in &ids {
        if cancel_requested(assoc)? {
            session.close().await;
            let rsp = counts.response(RSP, &msg, status::CANCEL, true);
            return write_message(assoc, msg.context_id, &rsp.build(), None).await;
        }
        match session.send(id).await {
            Ok(st) if st == status::SUCCESS => counts.completed += 1,
            Ok(_) => counts.warning += 1,
            Err(e) => {
                tracing::warn!(instance = %id, error = %e, "C-MOVE sub-operation failed");
                counts.failed += 1;
            }
        }
        counts.remaining -= 1;
        if counts.remaining > 0 {
            let rsp = counts.response(RSP, &msg, status::PENDING, true);
            write_message(assoc, msg.context_id, &rsp.build(), None).await?;
        }
    }
    session.close().await;
    let rsp = counts.response(RSP, &msg, counts.final_status(), false);
    write_message(assoc, msg.context_id, &rsp.build(), None).await
}

#[tracing::instrument(skip_all, fields(calling_aet = %s.calling_aet))]
pub(super) async fn handle_get(
    s: &Session,
    assoc: &mut Assoc,
    msg: Message,
) -> Result<(), MessageError> {
    const RSP: u16 = isengard_dimse::message::field::C_GET_RSP;
    let ids = match instances(s, &msg) {
        Ok(ids) => ids,
        Err(e) => return respond(assoc, &msg, RSP, Err(e)).await,
    };
    let mut counts = Counts {
        remaining: ids.len(),
        ..Default::default()
    };
    let mut message_id: u16 = 1;
    for id in &ids {
        if cancel_requested(assoc)? {
            let rsp = counts.response(RSP, &msg, status::CANCEL, true);
            return write_message(assoc, msg.context_id, &rsp.build(), None).await;
        }
        let outcome = match s.archive.outgoing_instance(id).await {
            Ok((item, file)) => {
                let uids = (item.sop_class.as_str(), item.sop_instance.as_str());
                let ts = &item.transfer_syntax;
                store_on(assoc, &s.contexts, message_id, uids, ts, &file, None)
                    .await
                    .map_err(Some)
            }
            Err(e) => {
                tracing::warn!(instance = %id, error = %e, "C-GET sub-operation failed");
                Err(None)
            }
        };
        message_id = message_id.wrapping_add(1);
        match outcome {
            Ok(rsp) if rsp.status() == Some(status::SUCCESS) => counts.completed += 1,
            Ok(rsp) if rsp.status().is_some_and(|st| st & 0xf000 == 0xb000) => counts.warning += 1,
            Ok(_) => counts.failed += 1,
            Err(Some(e @ (ScuError::Protocol(_) | ScuError::Timeout | ScuError::Aborted))) => {
                return Err(MessageError::UnexpectedPdu(e.to_string()));
            }
            Err(Some(e)) => {
                tracing::warn!(instance = %id, error = %e, "C-GET sub-operation failed");
                counts.failed += 1;
            }
            Err(None) => counts.failed += 1,
        }
        counts.remaining -= 1;
        if counts.remaining > 0 {
            let rsp = counts.response(RSP, &msg, status::PENDING, true);
            write_message(assoc, msg.context_id, &rsp.build(), None).await?;
        }
    }
    let rsp = counts.response(RSP, &msg, counts.final_status(), false);
    write_message(assoc, msg.context_id, &rsp.build(), None).await
}
