//! DIMSE messages over a dicom-ul association: command sets (group 0000,
//! always implicit VR little endian) and data sets, assembled from and split
//! into P-DATA values. Used by the server (SCP) and the client (SCU) alike.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
use dicom_ul::association::AsyncAssociation;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use std::os::fd::AsRawFd;

/// Command Field values (PS3.7 E.1).
pub mod field {
    pub const C_STORE_RQ: u16 = 0x0001;
    pub const C_STORE_RSP: u16 = 0x8001;
    pub const C_GET_RQ: u16 = 0x0010;
    pub const C_GET_RSP: u16 = 0x8010;
    pub const C_FIND_RQ: u16 = 0x0020;
    pub const C_FIND_RSP: u16 = 0x8020;
    pub const C_MOVE_RQ: u16 = 0x0021;
    pub const C_MOVE_RSP: u16 = 0x8021;
    pub const C_ECHO_RQ: u16 = 0x0030;
    pub const C_ECHO_RSP: u16 = 0x8030;
    pub const C_CANCEL_RQ: u16 = 0x0FFF;
}

/// Status codes (PS3.7 C and the service annexes) that Isengard answers with.
pub mod status {
    pub const SUCCESS: u16 = 0x0000;
    pub const PENDING: u16 = 0xFF00;
    pub const CANCEL: u16 = 0xFE00;
    pub const WARNING_SUBOPERATIONS: u16 = 0xB000;
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    pub const MOVE_DESTINATION_UNKNOWN: u16 = 0xA801;
    pub const DATA_SET_DOES_NOT_MATCH_SOP_CLASS: u16 = 0xA900;
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
    pub const UNABLE_TO_PROCESS: u16 = 0xC001;
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    pub const NOT_AUTHORIZED: u16 = 0x0124;
}

/// `CommandDataSetType` value meaning "no data set follows".
pub const NO_DATA_SET: u16 = 0x0101;

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("association error: {0}")]
    Association(#[from] dicom_ul::association::Error),
    #[error("malformed command set: {0}")]
    BadCommand(String),
    #[error("unexpected PDU while reading a message: {0}")]
    UnexpectedPdu(String),
    #[error("the peer aborted the association")]
    Aborted,
}

pub type Result<T> = std::result::Result<T, MessageError>;

/// One DIMSE message: a command set and, maybe, a data set (raw bytes in the
/// transfer syntax of its presentation context).
#[derive(Debug, Clone)]
pub struct Message {
    pub context_id: u8,
    pub command: InMemDicomObject,
    pub data: Option<Vec<u8>>,
}

fn get_u16(obj: &InMemDicomObject, tag: Tag) -> Option<u16> {
    obj.get(tag).and_then(|e| e.value().to_int::<u16>().ok())
}

fn get_str(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    obj.get(tag)
        .and_then(|e| e.value().to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
}

impl Message {
    pub fn command_field(&self) -> Option<u16> {
        get_u16(&self.command, tags::COMMAND_FIELD)
    }

    pub fn message_id(&self) -> u16 {
        get_u16(&self.command, tags::MESSAGE_ID).unwrap_or(0)
    }

    pub fn message_id_responded_to(&self) -> u16 {
        get_u16(&self.command, tags::MESSAGE_ID_BEING_RESPONDED_TO).unwrap_or(0)
    }

    pub fn status(&self) -> Option<u16> {
        get_u16(&self.command, tags::STATUS)
    }

    pub fn u16(&self, tag: Tag) -> Option<u16> {
        get_u16(&self.command, tag)
    }

    pub fn string(&self, tag: Tag) -> Option<String> {
        get_str(&self.command, tag)
    }

    pub fn affected_sop_class(&self) -> Option<String> {
        get_str(&self.command, tags::AFFECTED_SOP_CLASS_UID)
    }

    pub fn affected_sop_instance(&self) -> Option<String> {
        get_str(&self.command, tags::AFFECTED_SOP_INSTANCE_UID)
    }
}

/// A command set under construction.
#[derive(Debug, Clone)]
pub struct CommandBuilder {
    obj: InMemDicomObject,
}

impl CommandBuilder {
    pub fn new(command_field: u16) -> Self {
        let mut b = CommandBuilder {
            obj: InMemDicomObject::new_empty(),
        };
        b = b.u16(tags::COMMAND_FIELD, command_field);
        b.u16(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET)
    }

    /// A response to `request`: same SOP class, the request's message id.
    pub fn response_to(command_field: u16, request: &Message, status: u16) -> Self {
        let mut b = CommandBuilder::new(command_field)
            .u16(tags::MESSAGE_ID_BEING_RESPONDED_TO, request.message_id())
            .u16(tags::STATUS, status);
        if let Some(class) = request.affected_sop_class() {
            b = b.uid(tags::AFFECTED_SOP_CLASS_UID, &class);
        }
        b
    }

    pub fn u16(mut self, tag: Tag, value: u16) -> Self {
        self.obj
            .put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
        self
    }

    pub fn uid(mut self, tag: Tag, value: &str) -> Self {
        self.obj
            .put(DataElement::new(tag, VR::UI, PrimitiveValue::from(value)));
        self
    }

    pub fn ae(mut self, tag: Tag, value: &str) -> Self {
        self.obj
            .put(DataElement::new(tag, VR::AE, PrimitiveValue::from(value)));
        self
    }

    pub fn text(mut self, tag: Tag, vr: VR, value: &str) -> Self {
        self.obj
            .put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        self
    }

    /// Marks that a data set follows the command.
    pub fn with_data_set(self) -> Self {
        self.u16(tags::COMMAND_DATA_SET_TYPE, 0x0000)
    }

    pub fn build(self) -> InMemDicomObject {
        self.obj
    }
}

/// Encodes a command set, computing its `CommandGroupLength`.
pub fn encode_command(command: &InMemDicomObject) -> Vec<u8> {
    let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let mut without_length = command.clone();
    without_length.remove_element(tags::COMMAND_GROUP_LENGTH);
    let mut body = Vec::new();
    without_length
        .write_dataset_with_ts(&mut body, &ts)
        .expect("a command set of primitive values always encodes");
    // Group length element: tag (4) + length (4) + UL value (4), then the rest.
    let mut out = Vec::with_capacity(body.len() + 12);
    out.extend_from_slice(&[0, 0, 0, 0, 4, 0, 0, 0]);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

pub fn decode_command(bytes: &[u8]) -> Result<InMemDicomObject> {
    let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
    InMemDicomObject::read_dataset_with_ts(bytes, &ts)
        .map_err(|e| MessageError::BadCommand(e.to_string()))
}

/// Reads the next message. `Ok(None)` when the peer asks to release (after
/// answering it) or closed the connection.
pub async fn read_message<S, A>(association: &mut A) -> Result<Option<Message>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + AsRawFd + Unpin + Send,
    A: AsyncAssociation<S> + Send,
{
    let mut command_bytes = Vec::new();
    let mut command: Option<InMemDicomObject> = None;
    let mut data = Vec::new();
    let mut context_id;
    loop {
        quick_ack(association.inner_stream());
        let pdu = match AsyncAssociation::receive(association).await {
            Ok(pdu) => pdu,
            Err(e) if command.is_none() && command_bytes.is_empty() && is_closed(&e) => {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        match pdu {
            Pdu::PData { data: values } => {
                for value in values {
                    context_id = value.presentation_context_id;
                    match value.value_type {
                        PDataValueType::Command => {
                            command_bytes.extend_from_slice(&value.data);
                            if value.is_last {
                                let decoded = decode_command(&command_bytes)?;
                                let has_data = get_u16(&decoded, tags::COMMAND_DATA_SET_TYPE)
                                    != Some(NO_DATA_SET);
                                if !has_data {
                                    return Ok(Some(Message {
                                        context_id,
                                        command: decoded,
                                        data: None,
                                    }));
                                }
                                command = Some(decoded);
                            }
                        }
                        PDataValueType::Data => {
                            data.extend_from_slice(&value.data);
                            if value.is_last {
                                let Some(command) = command.take() else {
                                    return Err(MessageError::UnexpectedPdu(
                                        "a data set before its command".into(),
                                    ));
                                };
                                return Ok(Some(Message {
                                    context_id,
                                    command,
                                    data: Some(data),
                                }));
                            }
                        }
                    }
                }
            }
            Pdu::ReleaseRQ => {
                AsyncAssociation::send(association, &Pdu::ReleaseRP).await?;
                return Ok(None);
            }
            Pdu::AbortRQ { .. } => return Err(MessageError::Aborted),
            other => {
                return Err(MessageError::UnexpectedPdu(
                    format!("{other:?}").chars().take(120).collect(),
                ))
            }
        }
    }
}

/// Asks the kernel to acknowledge what arrives next at once instead of
/// delaying the ACK (up to 40 ms on Linux). DICOM peers that keep Nagle's
/// algorithm on (dcmtk's `getscu` and `storescp` here) write a PDU header and
/// its body separately: the body waits for the header's ACK, which a delayed
/// ACK holds back, so every C-STORE response cost 40 ms. The setting does not
/// stick (the kernel may leave quick-ACK mode), hence once per PDU read.
fn quick_ack(stream: &impl AsRawFd) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option of the right size;
    // failure (not a TCP socket) is harmless and ignored.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            std::ptr::addr_of!(on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn is_closed(e: &dicom_ul::association::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("closed") || text.contains("eof") || text.contains("reset")
}

/// Sends a command and its optional data set, split into P-DATA PDUs that fit
/// the peer's maximum PDU length.
pub async fn write_message<S, A>(
    association: &mut A,
    context_id: u8,
    command: &InMemDicomObject,
    data: Option<&[u8]>,
) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
    A: AsyncAssociation<S> + dicom_ul::association::Association + Send,
{
    // PDU header (6) + PDV item header (6): keep every PDU within the limit.
    let max_pdu = association.peer_max_pdu_length();
    let max_value = if max_pdu == 0 {
        64 * 1024
    } else {
        (max_pdu as usize).saturating_sub(12).max(512)
    };
    let encoded = encode_command(command);
    send_fragments(
        association,
        context_id,
        PDataValueType::Command,
        &encoded,
        max_value,
    )
    .await?;
    if let Some(data) = data {
        send_fragments(
            association,
            context_id,
            PDataValueType::Data,
            data,
            max_value,
        )
        .await?;
    }
    Ok(())
}

async fn send_fragments<S, A>(
    association: &mut A,
    context_id: u8,
    value_type: PDataValueType,
    bytes: &[u8],
    max_value: usize,
) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
    A: AsyncAssociation<S> + Send,
{
    let mut chunks = bytes.chunks(max_value).peekable();
    if chunks.peek().is_none() {
        let value = PDataValue {
            presentation_context_id: context_id,
            value_type,
            is_last: true,
            data: Vec::new(),
        };
        AsyncAssociation::send(association, &Pdu::PData { data: vec![value] }).await?;
        return Ok(());
    }
    while let Some(chunk) = chunks.next() {
        let value = PDataValue {
            presentation_context_id: context_id,
            value_type: value_type.clone(),
            is_last: chunks.peek().is_none(),
            data: chunk.to_vec(),
        };
        AsyncAssociation::send(association, &Pdu::PData { data: vec![value] }).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_sets_round_trip_with_group_length() {
        let cmd = CommandBuilder::new(field::C_ECHO_RQ)
            .u16(tags::MESSAGE_ID, 7)
            .uid(tags::AFFECTED_SOP_CLASS_UID, "1.2.840.10008.1.1")
            .build();
        let bytes = encode_command(&cmd);
        assert_eq!(&bytes[0..8], &[0, 0, 0, 0, 4, 0, 0, 0]);
        let length = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        assert_eq!(length, bytes.len() - 12);
        let back = decode_command(&bytes).unwrap();
        let msg = Message {
            context_id: 1,
            command: back,
            data: None,
        };
        assert_eq!(msg.command_field(), Some(field::C_ECHO_RQ));
        assert_eq!(msg.message_id(), 7);
        assert_eq!(
            msg.affected_sop_class().as_deref(),
            Some("1.2.840.10008.1.1")
        );
        assert_eq!(msg.u16(tags::COMMAND_DATA_SET_TYPE), Some(NO_DATA_SET));
    }

    #[test]
    fn responses_echo_the_request() {
        let rq = Message {
            context_id: 3,
            command: CommandBuilder::new(field::C_STORE_RQ)
                .u16(tags::MESSAGE_ID, 42)
                .uid(tags::AFFECTED_SOP_CLASS_UID, "1.2.840.10008.5.1.4.1.1.2")
                .with_data_set()
                .build(),
            data: Some(vec![]),
        };
        let rsp = CommandBuilder::response_to(field::C_STORE_RSP, &rq, status::SUCCESS).build();
        let rsp = Message {
            context_id: 3,
            command: decode_command(&encode_command(&rsp)).unwrap(),
            data: None,
        };
        assert_eq!(rsp.message_id_responded_to(), 42);
        assert_eq!(rsp.status(), Some(0));
        assert_eq!(
            rsp.affected_sop_class().as_deref(),
            Some("1.2.840.10008.5.1.4.1.1.2")
        );
    }
}
