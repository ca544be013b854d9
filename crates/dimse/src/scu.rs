//! The DICOM client (SCU): C-ECHO, C-STORE, C-FIND and C-MOVE towards a
//! remote application entity ([`Target`]). Protocol only: the caller (the
//! node's "send to a modality" use case) says which instances to send and
//! hands each file's bytes to [`StoreSession::send`], one at a time.
//!
//! C-STORE proposes one presentation context per (SOP class, transfer syntax)
//! of the instances, plus explicit/implicit little endian per SOP class as a
//! fallback (uncompressed files are then transcoded).

use std::collections::BTreeMap;
use std::time::Duration;

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_ul::association::client::AsyncClientAssociation;
use dicom_ul::association::{Association, AsyncAssociation, ClientAssociationOptions};
use tokio::net::TcpStream;

use super::dataset::{self, decode_identifier, encode_identifier, text_element};
use super::message::{field, read_message, status, write_message, CommandBuilder, Message};
use super::uids;
use isengard_dicom::{Level, Tag};

/// The peer to talk to: our AE title, the remote AE title and address, the
/// time allowed for each network operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub local_aet: String,
    pub remote_aet: String,
    pub host: String,
    pub port: u16,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ScuError {
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("association rejected by the modality: {0}")]
    Rejected(String),
    #[error("the modality accepted no presentation context for {0}")]
    NoPresentationContext(String),
    #[error("DIMSE failure status 0x{status:04X}{}", comment.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    Failure {
        status: u16,
        comment: Option<String>,
    },
    #[error("timeout while talking to the modality")]
    Timeout,
    #[error("the modality aborted the association")]
    Aborted,
    #[error("protocol error: {0}")]
    Protocol(String),
}

pub type Result<T> = std::result::Result<T, ScuError>;

fn ul_error(address: &str, e: dicom_ul::association::Error) -> ScuError {
    use dicom_ul::association::Error as E;
    match e {
        E::Rejected { association_rj, .. } => ScuError::Rejected(format!("{association_rj:?}")),
        E::NoAcceptedPresentationContexts { .. } => {
            ScuError::NoPresentationContext("every SOP class".into())
        }
        E::Timeout { .. } => ScuError::Timeout,
        E::Connect { source, .. } | E::ToAddress { source, .. } => ScuError::Connect {
            address: address.to_owned(),
            reason: source.to_string(),
        },
        other => ScuError::Protocol(other.to_string()),
    }
}

impl From<super::message::MessageError> for ScuError {
    fn from(e: super::message::MessageError) -> Self {
        match e {
            super::message::MessageError::Association(dicom_ul::association::Error::Timeout {
                ..
            }) => ScuError::Timeout,
            super::message::MessageError::Aborted => ScuError::Aborted,
            other => ScuError::Protocol(other.to_string()),
        }
    }
}

type Assoc = AsyncClientAssociation<TcpStream>;

/// Opens an association proposing `contexts` (abstract syntax, transfer syntaxes).
async fn connect(target: &Target, contexts: &[(String, Vec<String>)]) -> Result<Assoc> {
    let address = format!("{}:{}", target.host, target.port);
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title(target.local_aet.clone())
        .called_ae_title(target.remote_aet.clone())
        .max_pdu_length(65536)
        .read_timeout(target.timeout)
        .write_timeout(target.timeout)
        .connection_timeout(target.timeout);
    for (abstract_syntax, ts) in contexts {
        options = options.with_presentation_context(abstract_syntax.clone(), ts.clone());
    }
    match tokio::time::timeout(
        target.timeout * 2,
        options.establish_async(address.as_str()),
    )
    .await
    {
        Err(_) => Err(ScuError::Timeout),
        Ok(Err(e)) => Err(ul_error(&address, e)),
        Ok(Ok(mut a)) => {
            // Each DIMSE message is a few writes (PDU headers, command, data
            // set): with Nagle's algorithm, the peer's delayed ACK holds every
            // exchange for tens of milliseconds.
            let _ = a.inner_stream().set_nodelay(true);
            Ok(a)
        }
    }
}

fn context_for(assoc: &Assoc, abstract_syntax: &str) -> Result<(u8, String)> {
    assoc
        .presentation_contexts()
        .iter()
        .find(|pc| pc.abstract_syntax == abstract_syntax)
        .map(|pc| (pc.id, pc.transfer_syntax.clone()))
        .ok_or_else(|| ScuError::NoPresentationContext(abstract_syntax.to_owned()))
}

async fn next_message(assoc: &mut Assoc) -> Result<Message> {
    read_message(assoc)
        .await?
        .ok_or_else(|| ScuError::Protocol("the modality closed the association".into()))
}

fn check_final(rsp: &Message) -> Result<()> {
    match rsp.status() {
        Some(s) if s == status::SUCCESS || (s & 0xf000) == 0xb000 => Ok(()),
        s => Err(ScuError::Failure {
            status: s.unwrap_or(0xffff),
            comment: rsp.string(tags::ERROR_COMMENT),
        }),
    }
}

fn uncompressed() -> Vec<String> {
    vec![uids::EXPLICIT_LE.to_owned(), uids::IMPLICIT_LE.to_owned()]
}

/// C-ECHO.
#[tracing::instrument(skip_all, fields(aet = %target.remote_aet))]
pub async fn echo(target: &Target) -> Result<()> {
    let mut assoc = connect(target, &[(uids::VERIFICATION.to_owned(), uncompressed())]).await?;
    let (ctx, _) = context_for(&assoc, uids::VERIFICATION)?;
    let rq = CommandBuilder::new(field::C_ECHO_RQ)
        .u16(tags::MESSAGE_ID, 1)
        .uid(tags::AFFECTED_SOP_CLASS_UID, uids::VERIFICATION)
        .build();
    write_message(&mut assoc, ctx, &rq, None).await?;
    let rsp = next_message(&mut assoc).await?;
    let _ = assoc.release().await;
    check_final(&rsp)
}

/// Outcome of a C-STORE of several instances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreReport {
    /// Instances stored (including with a warning status).
    pub sent: Vec<String>,
    /// Instances refused or not sent, with the reason.
    pub failed: Vec<(String, String)>,
    /// Instances stored with a warning status (Bxxx).
    pub warnings: usize,
}

/// An open C-STORE association: instances are sent one by one.
pub struct StoreSession {
    assoc: Assoc,
    next_id: u16,
    move_originator: Option<(String, u16)>,
}

/// What C-STORE needs to know of an instance besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreItem {
    pub sop_class: String,
    pub sop_instance: String,
    /// The stored file's transfer syntax.
    pub transfer_syntax: String,
}

impl StoreSession {
    /// Negotiates the presentation contexts that `items` need.
    pub async fn open(target: &Target, items: &[StoreItem]) -> Result<StoreSession> {
        let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for item in items {
            let entry = wanted.entry(&item.sop_class).or_default();
            if !entry.contains(&item.transfer_syntax.as_str()) {
                entry.push(&item.transfer_syntax);
            }
        }
        // Each file's own transfer syntax first (uncompressed ones with the
        // other little endian syntaxes as alternatives), and an uncompressed
        // context per SOP class for transcoding when nothing else is accepted.
        let native =
            |ts: &str| [uids::IMPLICIT_LE, uids::EXPLICIT_LE, uids::EXPLICIT_BE].contains(&ts);
        let mut contexts = Vec::new();
        for (class, syntaxes) in &wanted {
            for ts in syntaxes {
                let mut proposed = vec![ts.to_string()];
                if native(ts) {
                    proposed.extend(uncompressed().into_iter().filter(|u| u != ts));
                }
                contexts.push((class.to_string(), proposed));
            }
            if !syntaxes.iter().any(|ts| native(ts)) {
                contexts.push((class.to_string(), uncompressed()));
            }
        }
        contexts.truncate(128);
        if contexts.is_empty() {
            contexts.push((uids::VERIFICATION.to_owned(), uncompressed()));
        }
        let assoc = connect(target, &contexts).await?;
        Ok(StoreSession {
            assoc,
            next_id: 1,
            move_originator: None,
        })
    }

    /// Marks the sub-operations of a C-MOVE (Move Originator AE title and message id).
    pub fn with_move_originator(mut self, aet: &str, message_id: u16) -> Self {
        self.move_originator = Some((aet.to_owned(), message_id));
        self
    }

    /// Sends one instance's `file`; `Ok(status)` is the peer's C-STORE status
    /// (success or warning), a failure status is an error.
    pub async fn send(&mut self, item: &StoreItem, file: &[u8]) -> Result<u16> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let originator = self.move_originator.as_ref().map(|(a, m)| (a.as_str(), *m));
        let contexts = self.assoc.presentation_contexts().to_vec();
        let uids = (item.sop_class.as_str(), item.sop_instance.as_str());
        let rsp = store_on(
            &mut self.assoc,
            &contexts,
            id,
            uids,
            &item.transfer_syntax,
            file,
            originator,
        )
        .await?;
        match rsp.status() {
            Some(s) if s == status::SUCCESS || (s & 0xf000) == 0xb000 => Ok(s),
            s => Err(ScuError::Failure {
                status: s.unwrap_or(0xffff),
                comment: rsp.string(tags::ERROR_COMMENT),
            }),
        }
    }

    pub async fn close(self) {
        let _ = self.assoc.release().await;
    }
}

/// Sends one stored file as a C-STORE-RQ on any association (SCU store, C-MOVE
/// sub-operations, C-GET sub-operations on the requester's association) and
/// waits for the C-STORE-RSP. Chooses the context of the file's SOP class and
/// transfer syntax, or an uncompressed one after transcoding. `uids` are the
/// SOP class and instance UIDs of the data set (as indexed; the meta header's
/// are used only when these are empty).
pub async fn store_on<S, A>(
    assoc: &mut A,
    contexts: &[dicom_ul::pdu::PresentationContextNegotiated],
    message_id: u16,
    uids: (&str, &str),
    transfer_syntax: &str,
    file: &[u8],
    move_originator: Option<(&str, u16)>,
) -> Result<Message>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + std::os::fd::AsRawFd + Unpin + Send,
    A: AsyncAssociation<S> + Association + Send,
{
    let meta = dataset::split_meta(file);
    let file_ts = meta
        .transfer_syntax
        .clone()
        .unwrap_or_else(|| transfer_syntax.to_owned());
    let pick = |given: &str, meta: &Option<String>| {
        if given.is_empty() {
            meta.clone().unwrap_or_default()
        } else {
            given.to_owned()
        }
    };
    let sop_class = pick(uids.0, &meta.sop_class_uid);
    let sop_instance = pick(uids.1, &meta.sop_instance_uid);
    let body = &file[meta.dataset_offset..];
    let for_class: Vec<_> = contexts
        .iter()
        .filter(|pc| pc.abstract_syntax == sop_class)
        .collect();
    let (ctx, data) = if let Some(pc) = for_class.iter().find(|pc| pc.transfer_syntax == file_ts) {
        (pc.id, body.to_vec())
    } else if let Some(pc) = for_class.first() {
        (
            pc.id,
            dataset::transcode_native(body, &file_ts, &pc.transfer_syntax).map_err(|e| {
                ScuError::NoPresentationContext(format!("{sop_class} in {file_ts} ({e})"))
            })?,
        )
    } else {
        return Err(ScuError::NoPresentationContext(sop_class));
    };
    let mut rq = CommandBuilder::new(field::C_STORE_RQ)
        .u16(tags::MESSAGE_ID, message_id)
        .uid(tags::AFFECTED_SOP_CLASS_UID, &sop_class)
        .uid(tags::AFFECTED_SOP_INSTANCE_UID, &sop_instance)
        .u16(tags::PRIORITY, 0)
        .with_data_set();
    if let Some((aet, id)) = move_originator {
        rq = rq
            .ae(tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE, aet)
            .u16(tags::MOVE_ORIGINATOR_MESSAGE_ID, id);
    }
    write_message(assoc, ctx, &rq.build(), Some(&data)).await?;
    loop {
        let msg = read_message(assoc)
            .await?
            .ok_or_else(|| ScuError::Protocol("association closed during C-STORE".into()))?;
        if msg.command_field() == Some(field::C_STORE_RSP) {
            return Ok(msg);
        }
        if msg.command_field() != Some(field::C_CANCEL_RQ) {
            return Err(ScuError::Protocol(format!(
                "unexpected command {:?} during C-STORE",
                msg.command_field()
            )));
        }
    }
}

/// One C-FIND answer: the identifier as received, in the context's transfer syntax.
#[derive(Debug, Clone, PartialEq)]
pub struct FindAnswer {
    pub data: Vec<u8>,
    pub transfer_syntax: String,
}

impl FindAnswer {
    /// The answer as Isengard's DICOM model (for Orthanc JSON rendering).
    pub fn to_dataset(&self) -> std::result::Result<isengard_dicom::model::DataSet, String> {
        isengard_dicom::reader::read_dataset(&self.data, &self.transfer_syntax)
    }

    /// The answer as a dicom-object data set.
    pub fn to_object(&self) -> Result<InMemDicomObject> {
        decode_identifier(&self.data, &self.transfer_syntax)
            .map_err(|e| ScuError::Protocol(e.to_string()))
    }
}

/// The identifier of a query: `QueryRetrieveLevel` plus the given keys
/// (empty values ask for the key, universal matching); the VR of each key
/// comes from the dictionary.
pub fn identifier(level: Level, keys: &[(Tag, String)]) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    let level_name = match level {
        Level::Patient => "PATIENT",
        Level::Study => "STUDY",
        Level::Series => "SERIES",
        Level::Instance => "IMAGE",
    };
    obj.put(text_element(tags::QUERY_RETRIEVE_LEVEL, level_name));
    for (tag, value) in keys {
        obj.put(text_element(dicom_core::Tag(tag.0, tag.1), value));
    }
    obj
}

/// Orthanc's choice: Patient Root at the patient level, Study Root otherwise.
fn model(level: Level, patient_root: &'static str, study_root: &'static str) -> &'static str {
    if level == Level::Patient {
        patient_root
    } else {
        study_root
    }
}

/// C-FIND: every pending answer's identifier.
#[tracing::instrument(skip_all, fields(aet = %target.remote_aet, ?level))]
pub async fn find(
    target: &Target,
    level: Level,
    keys: &[(Tag, String)],
) -> Result<Vec<FindAnswer>> {
    let sop = model(level, uids::PATIENT_ROOT_FIND, uids::STUDY_ROOT_FIND);
    let mut assoc = connect(target, &[(sop.to_owned(), uncompressed())]).await?;
    let (ctx, ts) = context_for(&assoc, sop)?;
    let data = encode_identifier(&identifier(level, keys), &ts)
        .map_err(|e| ScuError::Protocol(e.to_string()))?;
    let rq = CommandBuilder::new(field::C_FIND_RQ)
        .u16(tags::MESSAGE_ID, 1)
        .uid(tags::AFFECTED_SOP_CLASS_UID, sop)
        .u16(tags::PRIORITY, 0)
        .with_data_set()
        .build();
    write_message(&mut assoc, ctx, &rq, Some(&data)).await?;
    let mut answers = Vec::new();
    loop {
        let rsp = next_message(&mut assoc).await?;
        match rsp.status() {
            Some(status::PENDING) | Some(0xff01) => {
                if let Some(data) = rsp.data {
                    answers.push(FindAnswer {
                        data,
                        transfer_syntax: ts.clone(),
                    });
                }
            }
            _ => {
                let _ = assoc.release().await;
                check_final(&rsp)?;
                return Ok(answers);
            }
        }
    }
}

/// Outcome of a C-MOVE: the final status and sub-operation counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveReport {
    pub status: u16,
    pub completed: u16,
    pub failed: u16,
    pub warning: u16,
}

/// C-MOVE: asks the modality to send what `keys` match to `destination_aet`.
#[tracing::instrument(skip_all, fields(aet = %target.remote_aet, ?level, destination_aet))]
pub async fn move_(
    target: &Target,
    level: Level,
    keys: &[(Tag, String)],
    destination_aet: &str,
) -> Result<MoveReport> {
    let sop = model(level, uids::PATIENT_ROOT_MOVE, uids::STUDY_ROOT_MOVE);
    let mut assoc = connect(target, &[(sop.to_owned(), uncompressed())]).await?;
    let (ctx, ts) = context_for(&assoc, sop)?;
    let data = encode_identifier(&identifier(level, keys), &ts)
        .map_err(|e| ScuError::Protocol(e.to_string()))?;
    let rq = CommandBuilder::new(field::C_MOVE_RQ)
        .u16(tags::MESSAGE_ID, 1)
        .uid(tags::AFFECTED_SOP_CLASS_UID, sop)
        .u16(tags::PRIORITY, 0)
        .ae(tags::MOVE_DESTINATION, destination_aet)
        .with_data_set()
        .build();
    write_message(&mut assoc, ctx, &rq, Some(&data)).await?;
    loop {
        let rsp = next_message(&mut assoc).await?;
        if rsp.status() == Some(status::PENDING) {
            continue;
        }
        let _ = assoc.release().await;
        let report = MoveReport {
            status: rsp.status().unwrap_or(0xffff),
            completed: rsp
                .u16(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS)
                .unwrap_or(0),
            failed: rsp.u16(tags::NUMBER_OF_FAILED_SUBOPERATIONS).unwrap_or(0),
            warning: rsp.u16(tags::NUMBER_OF_WARNING_SUBOPERATIONS).unwrap_or(0),
        };
        check_final(&rsp)?;
        return Ok(report);
    }
}
