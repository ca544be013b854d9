//! The index's data model: resource levels, records, commands proposed through
//! Raft and their responses. Everything here is serialized into the Raft log or
//! the RocksDB state machine, so field changes are format changes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use isengard_dicom::{Level, MainTags};

/// A stored file attached to a resource: the DICOM file of an instance
/// (Orthanc's attachment `dicom`) or a user attachment (content type 1024 and
/// above) of a resource of any level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Content hash (SHA-256, lowercase hex) naming the blob (the stored bytes,
    /// compressed or not).
    pub hash: String,
    /// Size of the stored bytes (Orthanc's `CompressedSize`).
    pub size: u64,
    pub uncompressed_size: u64,
    /// MD5 of the uncompressed bytes, lowercase hex; empty when not recorded
    /// (then computed from the blob when asked for, ADR 006). Always recorded
    /// for a compressed attachment.
    pub md5: String,
    /// The blob is Orthanc's zlib form (8-byte little-endian size, then zlib).
    #[serde(default)]
    pub compressed: bool,
    /// Orthanc's revision (the ETag's `revision-md5`), 0 when created, one more
    /// at each replacement.
    #[serde(default)]
    pub revision: u64,
}

/// What a [`Command::SetAttachment`] or [`Command::DeleteAttachment`] expects
/// of the attachment already there (checked when applied, so that concurrent
/// writers cannot both win).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expect {
    /// Whatever is there (nothing, or any revision).
    Any,
    /// No attachment of that name.
    Absent,
    /// The attachment at this revision, with this MD5 (Orthanc's `If-Match`).
    Revision { revision: u64, md5: String },
    /// The attachment stored in this blob (compression changes of one writer).
    Blob { hash: String },
}

/// One resource as the state machine stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub level: Level,
    pub parent: Option<String>,
    pub main_tags: MainTags,
    /// Orthanc metadata (ReceptionDate, RemoteAET, Origin, IndexInSeries, ...).
    pub metadata: BTreeMap<String, String>,
    /// Only instances carry attachments; key is the attachment name (`dicom`).
    pub attachments: BTreeMap<String, Attachment>,
    pub is_stable: bool,
    /// Orthanc's `LastUpdate`, `YYYYMMDDTHHMMSS`.
    pub last_update: String,
    /// Milliseconds since the epoch of the last instance received below this
    /// resource; the stable-age timer counts from here.
    pub last_instance_ms: u64,
    /// Creation order in the archive (lists are returned in this order).
    pub created_seq: u64,
}

/// Everything the ingest use case learned from a DICOM file, ready to be proposed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewInstance {
    pub patient_id: String,
    pub study_id: String,
    pub series_id: String,
    pub instance_id: String,
    pub patient_tags: MainTags,
    pub study_tags: MainTags,
    pub series_tags: MainTags,
    pub instance_tags: MainTags,
    /// Instance metadata set at reception (Origin, RemoteAET, TransferSyntax, ...).
    pub metadata: BTreeMap<String, String>,
    pub attachment: Attachment,
}

/// Orthanc's change types (the subset that an archive without jobs produces,
/// plus the ones later features emit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeType {
    CompletedSeries,
    Deleted,
    NewChildInstance,
    NewInstance,
    NewPatient,
    NewSeries,
    NewStudy,
    AnonymizedStudy,
    AnonymizedSeries,
    ModifiedStudy,
    ModifiedSeries,
    AnonymizedPatient,
    ModifiedPatient,
    StablePatient,
    StableStudy,
    StableSeries,
    UpdatedAttachment,
    UpdatedMetadata,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::CompletedSeries => "CompletedSeries",
            ChangeType::Deleted => "Deleted",
            ChangeType::NewChildInstance => "NewChildInstance",
            ChangeType::NewInstance => "NewInstance",
            ChangeType::NewPatient => "NewPatient",
            ChangeType::NewSeries => "NewSeries",
            ChangeType::NewStudy => "NewStudy",
            ChangeType::AnonymizedStudy => "AnonymizedStudy",
            ChangeType::AnonymizedSeries => "AnonymizedSeries",
            ChangeType::ModifiedStudy => "ModifiedStudy",
            ChangeType::ModifiedSeries => "ModifiedSeries",
            ChangeType::AnonymizedPatient => "AnonymizedPatient",
            ChangeType::ModifiedPatient => "ModifiedPatient",
            ChangeType::StablePatient => "StablePatient",
            ChangeType::StableStudy => "StableStudy",
            ChangeType::StableSeries => "StableSeries",
            ChangeType::UpdatedAttachment => "UpdatedAttachment",
            ChangeType::UpdatedMetadata => "UpdatedMetadata",
        }
    }
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub change_type: ChangeType,
    pub level: Level,
    pub id: String,
    /// `YYYYMMDDTHHMMSS`.
    pub date: String,
}

/// Archive-wide counters for `/statistics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub patients: u64,
    pub studies: u64,
    pub series: u64,
    pub instances: u64,
    pub disk_size: u64,
    pub uncompressed_size: u64,
}

fn yes() -> bool {
    true
}

/// A DICOM peer known to the archive: an entry of Orthanc's `DicomModalities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modality {
    /// The symbolic name used in REST routes (`/modalities/{name}`).
    pub name: String,
    pub aet: String,
    pub host: String,
    pub port: u16,
    pub manufacturer: String,
    pub allow_echo: bool,
    pub allow_find: bool,
    /// Absent from modalities written before it existed: true, Orthanc's default.
    #[serde(default = "yes")]
    pub allow_find_worklist: bool,
    pub allow_get: bool,
    pub allow_move: bool,
    pub allow_store: bool,
    pub allow_n_action: bool,
    pub allow_event_report: bool,
    pub allow_transcoding: bool,
    /// AE title Isengard uses when calling this modality; empty = `DicomAet`.
    pub local_aet: String,
    /// DIMSE timeout in seconds; 0 = the global default.
    pub timeout: u64,
}

impl Modality {
    /// A modality with Orthanc's defaults for everything but its address:
    /// manufacturer `Generic`, every DIMSE service allowed, `DicomAet` as
    /// the calling AE title, the global timeout.
    pub fn new(name: &str, aet: &str, host: &str, port: u16) -> Modality {
        Modality {
            name: name.to_owned(),
            aet: aet.to_owned(),
            host: host.to_owned(),
            port,
            manufacturer: "Generic".into(),
            allow_echo: true,
            allow_find: true,
            allow_find_worklist: true,
            allow_get: true,
            allow_move: true,
            allow_store: true,
            allow_n_action: true,
            allow_event_report: true,
            allow_transcoding: true,
            local_aet: String::new(),
            timeout: 0,
        }
    }
}

/// Another Orthanc (or Isengard) server reached over HTTP: an entry of
/// Orthanc's `OrthancPeers`, or one defined with `PUT /peers/{name}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// The symbolic name used in REST routes (`/peers/{name}`).
    pub name: String,
    /// `Url`, ending with `/` as Orthanc shows it.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `HttpHeaders`: sent with every request to the peer.
    #[serde(default)]
    pub http_headers: std::collections::BTreeMap<String, String>,
    /// `CertificateFile`, `CertificateKeyFile`, `CertificateKeyPassword`:
    /// the client certificate presented over HTTPS.
    #[serde(default)]
    pub certificate_file: Option<String>,
    #[serde(default)]
    pub certificate_key_file: Option<String>,
    #[serde(default)]
    pub certificate_key_password: Option<String>,
    /// `Pkcs11`: the client key lives in a PKCS#11 token.
    #[serde(default)]
    pub pkcs11: bool,
    /// Seconds; 0 = the global `HttpTimeout`.
    #[serde(default)]
    pub timeout: u64,
    /// Keys of the definition that Orthanc does not interpret, shown back in
    /// `/peers/{name}/configuration`.
    #[serde(default)]
    pub user_properties: std::collections::BTreeMap<String, serde_json::Value>,
}

impl std::fmt::Debug for Peer {
    /// Everything but the passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("http_headers", &self.http_headers.keys())
            .field("certificate_file", &self.certificate_file)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Peer {
    /// A peer at `url` without credentials, headers or certificate.
    pub fn new(name: &str, url: &str) -> Peer {
        Peer {
            name: name.to_owned(),
            url: url.to_owned(),
            username: None,
            password: None,
            http_headers: Default::default(),
            certificate_file: None,
            certificate_key_file: None,
            certificate_key_password: None,
            pkcs11: false,
            timeout: 0,
            user_properties: Default::default(),
        }
    }
}

/// Wall-clock time chosen by the proposer, so that applying a command is
/// deterministic on every replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Orthanc's `YYYYMMDDTHHMMSS` in local time.
    pub date: String,
}

/// A mutation of the index: the Raft log's application payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Store one instance, creating its ancestors as needed. `holders`: in the
    /// replicated blob mode, the nodes that stored the blob durably before the
    /// command was proposed (added to the blob's holders); empty otherwise.
    StoreInstance {
        instance: Box<NewInstance>,
        overwrite: bool,
        stamp: Stamp,
        #[serde(default)]
        holders: Vec<u64>,
    },
    /// Delete a resource and everything below it.
    DeleteResource {
        id: String,
        stamp: Stamp,
    },
    /// Mark a resource stable if nothing arrived below it since `last_instance_ms`.
    MarkStable {
        id: String,
        last_instance_ms: u64,
        stamp: Stamp,
    },
    SetMetadata {
        id: String,
        name: String,
        value: String,
        stamp: Stamp,
    },
    DeleteMetadata {
        id: String,
        name: String,
        stamp: Stamp,
    },
    /// Adds or replaces the attachment `name` of a resource (its blob already
    /// durable); refused with [`CommandResponse::Conflict`] unless `expect` holds.
    /// The stored revision is one more than the replaced one (0 when new), as
    /// Orthanc counts them (a compression change counts too).
    SetAttachment {
        id: String,
        name: String,
        attachment: Attachment,
        expect: Expect,
        stamp: Stamp,
        #[serde(default)]
        holders: Vec<u64>,
    },
    /// Removes the attachment `name`; `Conflict` unless `expect` holds,
    /// [`CommandResponse::UnknownAttachment`] when there is none.
    DeleteAttachment {
        id: String,
        name: String,
        expect: Expect,
        stamp: Stamp,
    },
    /// Empty the change log (`DELETE /changes`).
    ClearChanges,
    /// Defines (or redefines) a modality.
    PutModality {
        modality: Modality,
    },
    DeleteModality {
        name: String,
    },
    /// Defines (or redefines) an Orthanc peer.
    PutPeer {
        peer: Peer,
    },
    DeletePeer {
        name: String,
    },
    /// A runtime setting that Orthanc keeps per process (`/tools/default-encoding`,
    /// `/tools/log-level-*`...): one value for the whole cluster.
    PutSetting {
        name: String,
        value: String,
    },
    /// The garbage collector claims unreferenced blobs before deleting them:
    /// the answer lists those that are still unreferenced and now `deleting`.
    ClaimBlobs {
        hashes: Vec<String>,
    },
    /// The garbage collector deleted these claimed blobs.
    BlobsCollected {
        hashes: Vec<String>,
    },
    /// Replicated blob mode: `add` now hold a durable copy of the blob, `remove`
    /// do not (a holder lost it, or left the cluster). Idempotent; ignored for
    /// a blob that no instance references (it is on its way to collection).
    UpdateBlobHolders {
        hash: String,
        add: Vec<u64>,
        remove: Vec<u64>,
    },
    /// The Lua callbacks that run once in the cluster (`OnStable*`) have
    /// processed the change log up to `seq`. Only moves forward.
    LuaCursor {
        seq: u64,
    },
    /// Increments the cluster-wide counter `name` (Orthanc's global sequences,
    /// e.g. `AnonymizationSequence`); answered by [`CommandResponse::Sequence`]
    /// with the new value (1 the first time).
    NextSequence {
        name: String,
    },
    /// `/reconstruct`: main tags re-read from an instance's file replace those
    /// of the instance and its ancestors (`tags`: resource ID → tags, each
    /// re-indexed), and `metadata` is set on the instance, in one write.
    ReplaceMainTags {
        instance: String,
        tags: Vec<(String, MainTags)>,
        metadata: BTreeMap<String, String>,
    },
    /// Group commit: commands proposed concurrently, applied in order as if
    /// proposed one by one (see `isengard::cluster::batch`). Answered by
    /// [`CommandResponse::Batch`], one response per command. Never nested.
    Batch(Vec<Command>),
}

/// What applying a command answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CommandResponse {
    /// Membership changes and blank entries.
    None,
    Stored(StoreOutcome),
    Deleted(DeleteOutcome),
    /// The command named a resource that does not exist.
    UnknownResource,
    /// The instance's blob is being deleted by the garbage collector: write the
    /// blob again once the collection is over, then retry.
    BlobBusy,
    Claimed {
        hashes: Vec<String>,
    },
    /// The precondition of an attachment write did not hold.
    Conflict,
    /// The resource has no attachment of that name.
    UnknownAttachment,
    /// An attachment was written: its new revision.
    Revision(u64),
    Done,
    /// The new value of a [`Command::NextSequence`].
    Sequence(u64),
    /// The responses to the commands of a [`Command::Batch`], in order.
    Batch(Vec<CommandResponse>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreStatus {
    Success,
    AlreadyStored,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreOutcome {
    pub status: StoreStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteOutcome {
    /// The closest ancestor that still exists, as `(level, id)`.
    pub remaining_ancestor: Option<(Level, String)>,
}
