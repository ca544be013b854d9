//! Protocol-neutral use cases over the index and the blob store. The HTTP and
//! DICOM edges call these; nothing here knows about either protocol.

pub mod attachments;
pub mod cluster;
pub mod find;
pub mod hooks;
pub mod ingest;
pub mod lifecycle;
pub mod metrics;
pub mod modalities;
pub mod modify;
pub mod modify_run;
pub mod reconstruct;
pub mod split_merge;
pub mod peers;
pub mod read;
pub mod remote;
pub mod remote_query;
pub mod replication;
pub mod send;
pub mod settings;
pub mod slices;
pub mod write;
pub mod webdav_uploads;
pub mod zip_layout;
pub mod zip_stream;

use std::sync::Arc;

use crate::blob::{BlobError, BlobStore};
use crate::cluster::Node;
use crate::config::Config;
use crate::dicom::DicomError;
use crate::index::{IndexError, Stamp};

pub use ingest::{IngestOutcome, Origin};

/// Errors of the use cases; each edge maps them to its own status codes.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    BadDicom(#[from] DicomError),
    #[error("unknown resource {0}")]
    UnknownResource(String),
    #[error("the resource {id} is a {actual}, not a {expected}")]
    WrongLevel {
        id: String,
        expected: &'static str,
        actual: &'static str,
    },
    #[error("no metadata {0}")]
    UnknownMetadata(String),
    #[error("no attachment {0}")]
    UnknownAttachment(String),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("the blob of instance {0} is still being garbage-collected; try again")]
    BlobBusy(String),
    #[error("only {made} of the {wanted} copies of blob {hash} could be stored (Isengard.Blobs.Replicas): {reasons}")]
    NotEnoughCopies {
        hash: String,
        wanted: usize,
        made: usize,
        reasons: String,
    },
    #[error("blob {hash} is missing on this node and no holder could be reached: {reasons}")]
    BlobUnavailable { hash: String, reasons: String },
    /// A remote AE answered something that cannot be read.
    #[error("{0}")]
    BadAnswer(String),
    /// A Lua callback failed or answered something unusable.
    #[error("{callback}: {reason}")]
    Script {
        callback: &'static str,
        reason: String,
    },
    /// A DICOM exchange with a remote AE failed.
    #[error("DicomAssociation - talking to AET \"{aet}\": {source}")]
    Scu {
        aet: String,
        #[source]
        source: isengard_dimse::scu::ScuError,
    },
    #[error("unknown modality {0}")]
    UnknownModality(String),
    #[error("bad definition of modality {name}: {reason}")]
    BadModality { name: String, reason: String },
    #[error("No peer with symbolic name: {0}")]
    UnknownPeer(String),
    #[error("bad definition of peer {name}: {reason}")]
    BadPeer { name: String, reason: String },
    /// A file named by a request does not exist.
    #[error("{0}")]
    MissingFile(String),
    /// A runtime setting refused its new value.
    #[error("{0}")]
    BadSetting(String),
    #[error("bad query: {0}")]
    BadQuery(String),
    #[error("unknown query level {0}")]
    BadLevel(String),
    #[error("unknown query {0}")]
    UnknownQuery(String),
    #[error("no answer {index} in a query of {count} answers")]
    NoSuchAnswer { index: usize, count: usize },
    /// `ReceivedInstanceFilter` refused the instance (nothing was stored).
    #[error("instance {0} refused by the Lua callback ReceivedInstanceFilter")]
    FilteredOut(String),
    /// A modification (`/{level}/{id}/modify`, Lua's `ModifyInstance`) refused or failed.
    #[error(transparent)]
    Modify(#[from] modify::ModifyError),
    /// The index answered a command with something it never answers to it.
    #[error("internal error: {0}")]
    Internal(String),
    /// A user attachment write refused (revisions, reserved content types).
    #[error(transparent)]
    Attachment(#[from] attachments::AttachmentError),
    /// A local find (`/tools/find`, C-FIND) the planner refused.
    #[error(transparent)]
    Find(#[from] find::FindError),
}

pub type Result<T> = std::result::Result<T, ServiceError>;

/// The archive: the index, the blob store and the configuration, shared by every
/// edge. Cheap to clone.
#[derive(Clone)]
pub struct Archive {
    pub(crate) node: Node,
    pub(crate) blobs: BlobStore,
    pub(crate) config: Arc<Config>,
    /// The results of `/modalities/{m}/query` on this node (not replicated).
    pub(crate) queries: Arc<remote_query::QueryRegistry>,
    /// The scripting layer, once installed (see [`Archive::install_hooks`]).
    pub(crate) hooks: Arc<std::sync::OnceLock<Arc<dyn hooks::ScriptHooks>>>,
    /// WebDAV's `uploads` folder on this node (not replicated).
    pub(crate) webdav_uploads: Arc<webdav_uploads::Uploads>,
    /// What the edges measure (`/tools/metrics-prometheus`).
    pub metrics: Arc<metrics::Metrics>,
    /// A stop asked for over the API (`/tools/shutdown`, `/tools/reset`).
    stop: Arc<tokio::sync::watch::Sender<Option<Stop>>>,
}

/// How a node was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Stop for good (`/tools/shutdown`, a signal).
    Shutdown,
    /// Stop, then start again with the configuration read anew (`/tools/reset`).
    Reset,
}

impl Archive {
    pub fn new(node: Node, blobs: BlobStore, config: Arc<Config>) -> Archive {
        let queries = Arc::new(remote_query::QueryRegistry::new(config.query_retrieve_size));
        blobs.set_cache_capacity((config.maximum_storage_cache_size * 1024 * 1024) as usize);
        Archive {
            node,
            blobs,
            config,
            queries,
            hooks: Default::default(),
            webdav_uploads: Default::default(),
            metrics: Default::default(),
            stop: Arc::new(tokio::sync::watch::channel(None).0),
        }
    }

    /// Asks the node to stop (the first request wins).
    pub fn request_stop(&self, stop: Stop) {
        self.stop.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(stop);
            }
            first
        });
    }

    /// Completes when a stop is requested, with it.
    pub async fn stop_requested(&self) -> Stop {
        let mut rx = self.stop.subscribe();
        let stop = match rx.wait_for(Option::is_some).await {
            Ok(stop) => stop.unwrap_or(Stop::Shutdown),
            // The sender lives in `self`: never closed while we wait.
            Err(_) => Stop::Shutdown,
        };
        stop
    }

    /// Installs the scripting layer, shared by every clone of this archive.
    /// Only the first installation counts.
    pub fn install_hooks(&self, hooks: Arc<dyn hooks::ScriptHooks>) {
        let _ = self.hooks.set(hooks);
    }

    /// The scripting layer, if one is installed and defines `callback`.
    pub fn hook(&self, callback: &str) -> Option<&Arc<dyn hooks::ScriptHooks>> {
        self.hooks.get().filter(|h| h.defines(callback))
    }

    /// The scripting layer, if one is installed.
    pub fn hooks(&self) -> Option<&Arc<dyn hooks::ScriptHooks>> {
        self.hooks.get()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn queries(&self) -> &remote_query::QueryRegistry {
        &self.queries
    }
}

/// The proposer's clock, stamped into commands.
pub fn now_stamp() -> Stamp {
    let now = chrono::Local::now();
    Stamp {
        unix_ms: now.timestamp_millis().max(0) as u64,
        date: now.format("%Y%m%dT%H%M%S").to_string(),
    }
}
