//! One association: negotiation, then a loop reading DIMSE requests and
//! dispatching them to the services until release, abort, timeout or error.
//! Every request gets a response; an undecodable message, or a request the
//! AE title rules refuse (as Orthanc does), aborts the association.

use std::net::SocketAddr;
use std::sync::Arc;

use dicom_dictionary_std::tags;
use dicom_ul::association::{AsyncAssociation, AsyncServerAssociation};
use dicom_ul::pdu::{AbortRQServiceProviderReason, AbortRQSource, PresentationContextNegotiated};
use dicom_ul::Pdu;
use futures::FutureExt;
use tokio::net::TcpStream;

use super::server::{Options, Policy, Request};
use super::DimseError;
use crate::service::Archive;
use isengard_dimse::message::{
    self, field, read_message, status, write_message, CommandBuilder, Message, MessageError,
};

pub(super) type Assoc = AsyncServerAssociation<TcpStream>;

/// What the services know about the association they serve.
pub(super) struct Session {
    pub archive: Archive,
    pub policy: Arc<Policy>,
    pub calling_aet: String,
    pub called_aet: String,
    pub remote_ip: String,
    pub contexts: Vec<PresentationContextNegotiated>,
}

impl Session {
    pub fn allows(&self, request: Request) -> bool {
        self.policy
            .allows(&self.archive, &self.calling_aet, &self.remote_ip, request)
    }

    /// The negotiated transfer syntax of a presentation context.
    pub fn transfer_syntax(&self, context_id: u8) -> Option<&str> {
        self.contexts
            .iter()
            .find(|pc| pc.id == context_id)
            .map(|pc| pc.transfer_syntax.as_str())
    }
}

/// Sends the final response of `request`: success, or the error's status with
/// an `ErrorComment`.
pub(super) async fn respond(
    assoc: &mut Assoc,
    request: &Message,
    response_field: u16,
    outcome: Result<CommandBuilder, DimseError>,
) -> Result<(), MessageError> {
    let command = match outcome {
        Ok(builder) => builder,
        Err(e) => {
            tracing::warn!(status = format!("{:04X}", e.status()), error = %e, "DIMSE request failed");
            CommandBuilder::response_to(response_field, request, e.status()).text(
                tags::ERROR_COMMENT,
                dicom_core::VR::LO,
                &e.comment(),
            )
        }
    };
    write_message(assoc, request.context_id, &command.build(), None).await
}

/// Whether the peer sent a C-CANCEL-RQ (polled without waiting, between
/// responses). Anything else than a cancel here is a protocol error.
pub(super) fn cancel_requested(assoc: &mut Assoc) -> Result<bool, MessageError> {
    match AsyncAssociation::receive(assoc).now_or_never() {
        None => Ok(false),
        Some(Err(e)) => Err(e.into()),
        Some(Ok(Pdu::PData { data })) => {
            let mut cancelled = false;
            for value in data {
                if let Ok(cmd) = message::decode_command(&value.data) {
                    let msg = Message {
                        context_id: value.presentation_context_id,
                        command: cmd,
                        data: None,
                    };
                    cancelled |= msg.command_field() == Some(field::C_CANCEL_RQ);
                }
            }
            Ok(cancelled)
        }
        Some(Ok(Pdu::AbortRQ { .. })) => Err(MessageError::Aborted),
        Some(Ok(other)) => Err(MessageError::UnexpectedPdu(
            format!("{other:?}").chars().take(80).collect(),
        )),
    }
}

async fn abort(assoc: &mut Assoc) {
    let pdu = Pdu::AbortRQ {
        source: AbortRQSource::ServiceProvider(AbortRQServiceProviderReason::UnexpectedPdu),
    };
    let _ = AsyncAssociation::send(assoc, &pdu).await;
}

/// Serves one connection.
#[tracing::instrument(skip_all, fields(peer = %peer, calling_aet = tracing::field::Empty))]
pub(super) async fn run(
    archive: Archive,
    policy: Arc<Policy>,
    options: &Options,
    socket: TcpStream,
    peer: SocketAddr,
) {
    let mut assoc = match options.establish_async(socket).await {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(error = %e, "association not established");
            return;
        }
    };
    let session = Session {
        archive,
        calling_aet: dicom_ul::association::Association::peer_ae_title(&assoc)
            .trim()
            .to_owned(),
        called_aet: assoc.called_ae_title().trim().to_owned(),
        remote_ip: peer.ip().to_string(),
        contexts: assoc.presentation_contexts().to_vec(),
        policy,
    };
    tracing::Span::current().record("calling_aet", session.calling_aet.as_str());
    tracing::debug!(called_aet = %session.called_aet, contexts = session.contexts.len(), "association established");
    if !session.policy.anyone_may_connect()
        && session
            .policy
            .modality(
                &session.archive,
                &session.calling_aet,
                Some(&session.remote_ip),
            )
            .is_none()
    {
        tracing::warn!(
            "association aborted: the calling AE title does not match the modality's host"
        );
        abort(&mut assoc).await;
        return;
    }
    loop {
        let msg = match read_message(&mut assoc).await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(MessageError::Aborted) => {
                tracing::debug!("association aborted by the peer");
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "association aborted");
                abort(&mut assoc).await;
                break;
            }
        };
        // As Orthanc: a request the calling AE may not make aborts the association.
        if let Some(request) = request_kind(&msg) {
            if !session.allows(request) {
                tracing::warn!(
                    ?request,
                    "request refused by the AE title rules: aborting the association"
                );
                abort(&mut assoc).await;
                break;
            }
        }
        if let Err(e) = dispatch(&session, &mut assoc, msg).await {
            tracing::warn!(error = %e, "association aborted while answering");
            abort(&mut assoc).await;
            break;
        }
    }
}

fn request_kind(msg: &Message) -> Option<Request> {
    match msg.command_field()? {
        field::C_ECHO_RQ => Some(Request::Echo),
        field::C_STORE_RQ => Some(Request::Store),
        field::C_FIND_RQ => Some(Request::Find),
        field::C_MOVE_RQ => Some(Request::Move),
        field::C_GET_RQ => Some(Request::Get),
        _ => None,
    }
}

async fn dispatch(s: &Session, assoc: &mut Assoc, msg: Message) -> Result<(), MessageError> {
    let Some(command) = msg.command_field() else {
        return Err(MessageError::BadCommand("no CommandField".into()));
    };
    if s.transfer_syntax(msg.context_id).is_none() {
        return Err(MessageError::BadCommand(format!(
            "unknown presentation context {}",
            msg.context_id
        )));
    }
    match command {
        field::C_ECHO_RQ => {
            let rsp = CommandBuilder::response_to(field::C_ECHO_RSP, &msg, status::SUCCESS);
            write_message(assoc, msg.context_id, &rsp.build(), None).await
        }
        field::C_STORE_RQ => super::store::handle(s, assoc, msg).await,
        field::C_FIND_RQ => super::find::handle(s, assoc, msg).await,
        field::C_MOVE_RQ => super::retrieve::handle_move(s, assoc, msg).await,
        field::C_GET_RQ => super::retrieve::handle_get(s, assoc, msg).await,
        // A cancel for a request already answered: nothing to do.
        field::C_CANCEL_RQ => Ok(()),
        other => {
            // 0211: unrecognized operation.
            let rsp = CommandBuilder::response_to(other | 0x8000, &msg, 0x0211);
            write_message(assoc, msg.context_id, &rsp.build(), None).await
        }
    }
}
