//! C-STORE SCP: the received data set, behind a meta header naming the
//! negotiated transfer syntax, goes to the same `Archive::ingest` as
//! `POST /instances`; the response is sent once the instance is durable.
//! A duplicate is a success, as in Orthanc.

use bytes::Bytes;
use dicom_dictionary_std::tags;

use super::association::{respond, Assoc, Session};
use super::DimseError;
use crate::service::Origin;
use isengard_dimse::dataset::build_file;
use isengard_dimse::message::{field, status, CommandBuilder, Message, MessageError};

pub(super) async fn handle(
    s: &Session,
    assoc: &mut Assoc,
    msg: Message,
) -> Result<(), MessageError> {
    let outcome = store(s, &msg).await;
    respond(assoc, &msg, field::C_STORE_RSP, outcome).await
}

#[tracing::instrument(skip_all, fields(sop_instance = tracing::field::Empty))]
async fn store(s: &Session, msg: &Message) -> Result<CommandBuilder, DimseError> {
    let sop_class = msg.affected_sop_class().unwrap_or_default();
    let sop_instance = msg.affected_sop_instance().unwrap_or_default();
    tracing::Span::current().record("sop_instance", sop_instance.as_str());
    let ts = s.transfer_syntax(msg.context_id).unwrap_or_default();
    let Some(data) = msg.data.as_deref() else {
        return Err(DimseError::CannotUnderstand(
            "C-STORE without a data set".into(),
        ));
    };
    let file = build_file(&sop_class, &sop_instance, ts, &s.calling_aet, data);
    let origin = Origin {
        kind: "DicomProtocol",
        remote_ip: s.remote_ip.clone(),
        remote_aet: s.calling_aet.clone(),
        called_aet: s.called_aet.clone(),
        http_username: String::new(),
    };
    let outcome = s.archive.ingest(Bytes::from(file), &origin).await?;
    tracing::debug!(id = %outcome.ids.instance, status = ?outcome.status, "stored");
    Ok(
        CommandBuilder::response_to(field::C_STORE_RSP, msg, status::SUCCESS)
            .uid(tags::AFFECTED_SOP_INSTANCE_UID, &sop_instance),
    )
}
