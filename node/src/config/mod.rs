//! Orthanc-style JSON configuration.
//!
//! The configuration file is Orthanc's: JSON with `//` and `/* */` comments, or a
//! directory whose `*.json` files are merged (a top-level key may appear in only one
//! of them). `${VAR}` inside string values is replaced by the environment variable,
//! as Orthanc does. A few `ISENGARD_*` environment variables then override the file
//! (secrets and deployment settings). Isengard's own options live under the
//! `"Isengard"` key. `docs/configuration.md` documents every key.
//!
//! Resolution is a pure function of (document text, environment lookup):
//! [`Config::from_json_str`]; [`Config::load`] adds the file system and the real
//! environment around it. Every key is read there, once, into a typed field;
//! the rest of the code never reads the document (only scripts see it, through
//! [`Config::document`]).

mod blobs;
mod cluster;
mod dicom;
#[cfg(test)]
mod env_tests;
#[cfg(test)]
mod file_tests;
mod keys;
mod modalities;
mod parse;
mod peers;
mod resolve;
#[cfg(test)]
mod tests;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use blobs::{BlobMode, DEFAULT_REPAIR_INTERVAL, DEFAULT_REPLICAS};
pub(crate) use cluster::is_host_port;
pub use cluster::{
    ClusterConfig, DEFAULT_GRPC_LISTEN, DEFAULT_SNAPSHOT_KEEP_LOGS, DEFAULT_SNAPSHOT_LOGS,
};
pub use dicom::{
    DicomScpConfig, DEFAULT_MAXIMUM_PDU_LENGTH, DEFAULT_MAX_ASSOCIATIONS, DEFAULT_SCP_TIMEOUT,
    PDU_LENGTH_RANGE,
};
pub use keys::{
    is_orthanc_unimplemented, unimplemented_reason, Key, KEYS, ORTHANC_UNIMPLEMENTED,
    REFUSED_WHEN_TRUE,
};
pub use modalities::modality_from_json;
pub use peers::peer_from_json;

use crate::index::{Modality, Peer};

/// Orthanc's default `QueryRetrieveSize`.
pub const DEFAULT_QUERY_RETRIEVE_SIZE: usize = 100;

/// Orthanc's WebDAV options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebDavConfig {
    /// `"WebDavEnabled"`: serve `/webdav`. Default true.
    pub enabled: bool,
    /// `"WebDavUploadAllowed"`: the `uploads` folder, whose files are ingested. Default true.
    pub upload_allowed: bool,
    /// `"WebDavDeleteAllowed"`: DELETE of DICOM resources through WebDAV. Default false.
    pub delete_allowed: bool,
}

impl Default for WebDavConfig {
    fn default() -> Self {
        WebDavConfig {
            enabled: true,
            upload_allowed: true,
            delete_allowed: false,
        }
    }
}

/// The resolved configuration of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `"Name"`: the logical name of this node, shown by `/system`. Default `"Isengard"`.
    pub name: String,
    /// `"StorageDirectory"`: where the node keeps its data. Relative paths are kept
    /// relative (to the working directory). Default `"OrthancStorage"`.
    pub storage_directory: PathBuf,
    /// `"IndexDirectory"`: where the index (RocksDB) lives. Default: `storage_directory`.
    pub index_directory: PathBuf,
    /// `"HttpPort"`: the REST API port. Default 8042. 0 asks the OS for a free port.
    pub http_port: u16,
    /// `"DicomPort"`: the DICOM (DIMSE) port. Default 4242. 0 asks the OS for a free port.
    pub dicom_port: u16,
    /// `"DicomAet"`: this node's application entity title. Default `"ORTHANC"`.
    pub dicom_aet: String,
    /// `"CaseSensitivePN"`: whether C-FIND matches person names case-sensitively.
    /// Default false.
    pub case_sensitive_pn: bool,
    /// `"LimitFindResults"`: most patients, studies or series a C-FIND answers;
    /// 0 (the default) for no limit.
    pub limit_find_results: usize,
    /// `"LimitFindInstances"`: most instances a C-FIND answers; 0 (the default)
    /// for no limit.
    pub limit_find_instances: usize,
    /// `"DicomScuTimeout"`: seconds each network operation of the DICOM client
    /// may take, unless the modality sets its own `Timeout`. Default 10.
    pub dicom_scu_timeout: u64,
    /// The DICOM server's options: `DicomCheckCalledAet`, `DicomAlwaysAllow*`,
    /// `DicomCheckModalityHost`, `StrictAetComparison`, `UnknownSopClassAccepted`,
    /// `DicomScpTimeout`, `MaximumPduLength`, `Isengard.DicomMaxAssociations`.
    pub dicom_scp: DicomScpConfig,
    /// `"DicomModalities"`: the modalities the configuration declares, in its
    /// order; they seed the replicated list at start. Default none.
    pub dicom_modalities: Vec<Modality>,
    /// `"QueryRetrieveSize"`: how many results of `/modalities/{m}/query` a node
    /// keeps (the oldest go first). Default 100.
    pub query_retrieve_size: usize,
    /// `"StableAge"`: seconds without a new instance before a patient, study or
    /// series becomes stable. Default 60.
    pub stable_age: u64,
    /// `"OverwriteInstances"`: whether a re-sent SOP instance replaces the stored one.
    /// Default false (the new one is discarded).
    pub overwrite_instances: bool,
    /// `"StoreMD5ForAttachments"`: whether attachments record their MD5. Default true.
    pub store_md5: bool,
    /// `"MaximumStorageCacheSize"`: megabytes of recently read, verified DICOM
    /// files kept in memory; 0 disables the cache. Default 128.
    pub maximum_storage_cache_size: u64,
    /// `"UserMetadata"`: the names of user metadata clients may set besides the
    /// numbered ones (1024 to 65535). Default none. The numbers Orthanc
    /// associates with the names are not used.
    pub user_metadata: BTreeSet<String>,
    /// `"UserContentType"`: names of user attachment types, to their number
    /// (1024 to 65535) and the MIME type `/data` answers with. Default none.
    pub user_content_types: BTreeMap<String, (u16, Option<String>)>,
    /// `"CheckRevisions"`: whether writing over or deleting a user attachment
    /// needs an `If-Match` header with its revision. Default false.
    pub check_revisions: bool,
    /// `"RemoteAccessAllowed"`: whether HTTP clients other than localhost are served.
    /// Default false.
    pub remote_access_allowed: bool,
    /// `"AuthenticationEnabled"`: HTTP basic authentication against
    /// `registered_users`. Default, as in Orthanc >= 1.5.8: the value of
    /// `remote_access_allowed`.
    pub authentication_enabled: bool,
    /// `"RegisteredUsers"`: user name to password. Overridden by
    /// `ISENGARD_REGISTERED_USERS`.
    pub registered_users: BTreeMap<String, String>,
    /// `"Isengard"."HttpBind"`: the address the HTTP server binds. Default `0.0.0.0`
    /// (like Orthanc, all interfaces; `remote_access_allowed` guards).
    pub http_bind: IpAddr,
    /// `"TcpNoDelay"`: whether REST connections set `TCP_NODELAY`, so the last
    /// segment of an answer does not wait for the client's delayed ACK.
    /// Default true.
    pub tcp_no_delay: bool,
    /// `"Isengard"."Blobs"`: where and how DICOM files are stored.
    pub blobs: BlobsConfig,
    /// `"Isengard"."Cluster"`: the cluster this node belongs to; `None` (no
    /// section): a one-member cluster.
    pub cluster: Option<ClusterConfig>,
    /// Lua scripting: `LuaScripts`, `ExecuteLuaEnabled`, `LuaHeartBeatPeriod`,
    /// `Isengard.LuaTimeout` (docs/lua.md).
    pub lua: LuaConfig,
    /// `"OrthancPeers"`: the Orthanc peers, in the document's order; they seed
    /// the replicated list of peers (`/peers`) at start-up. Default none.
    pub orthanc_peers: Vec<Peer>,
    /// `"DefaultEncoding"`: how strings of files without (0008,0005) are read,
    /// until `/tools/default-encoding` changes it. Default Latin1.
    pub default_encoding: crate::dicom::charset::Encoding,
    /// `"HttpCompressionEnabled"`: answers are gzip- or deflate-compressed
    /// when the client accepts it. Default true.
    pub http_compression_enabled: bool,
    /// WebDAV at `/webdav`: `WebDavEnabled`, `WebDavUploadAllowed`, `WebDavDeleteAllowed`.
    pub webdav: WebDavConfig,
    /// `"MetricsEnabled"`: `/tools/metrics-prometheus` answers the metrics
    /// (until `PUT /tools/metrics` changes it, cluster-wide). Default true.
    pub metrics_enabled: bool,
    /// The whole document, for scripts only: see [`Config::document`].
    document: serde_json::Value,
    /// Keys present in the document that Isengard does not implement, sorted:
    /// Orthanc options (see [`is_orthanc_unimplemented`]) and unknown keys alike.
    /// Nested Isengard keys are written `Isengard.Key`. Meant to be logged once.
    pub unsupported_keys: Vec<String>,
}

/// `"Isengard"."Blobs"`: the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobsConfig {
    /// `"Url"`, validated and normalized: `s3://bucket` or `s3://bucket/prefix` (no
    /// trailing `/`), or `file:///absolute/path`. `None`: `<StorageDirectory>/blobs`.
    /// Overridden by `ISENGARD_BLOBS_URL`. See [`Config::blob_location`].
    pub url: Option<String>,
    /// `"Fsync"`: whether a local blob is fsynced before a store is acknowledged.
    /// Default true. Ignored for S3.
    pub fsync: bool,
    /// `"Mode"`: `"shared"` or `"replicated"`. Default: shared for a single node
    /// or when a `Url` is set, replicated for cluster members without `Url`.
    pub mode: BlobMode,
    /// `"Replicas"`: copies of each blob in the replicated mode, from 1 to the
    /// number of initial members. Default `min(3, members)`.
    pub replicas: u64,
    /// `"RepairInterval"`: seconds between two passes of the replicated mode's
    /// holder check and repair. Default 60.
    pub repair_interval: std::time::Duration,
}

/// Lua scripting options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaConfig {
    /// `"LuaScripts"`: files loaded in order at start into one interpreter. A
    /// relative path is relative to the configuration file's directory (the
    /// directory itself for a configuration directory), as in Orthanc.
    pub scripts: Vec<PathBuf>,
    /// `"ExecuteLuaEnabled"`: whether `POST /tools/execute-script` is allowed.
    /// Default false.
    pub execute_enabled: bool,
    /// `"LuaHeartBeatPeriod"`: seconds between two `OnHeartBeat()` calls; 0 (the
    /// default) disables them.
    pub heartbeat_period: u64,
    /// `"Isengard"."LuaTimeout"`: seconds one script call may run before it is
    /// stopped with an error. Default 10.
    pub timeout_secs: u64,
}

/// Where blobs live, as [`Config::blob_location`] resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// A local directory: the `file://` URL's absolute path, or
    /// `<StorageDirectory>/blobs` (relative when the storage directory is).
    Local(PathBuf),
    /// An S3 (or S3-compatible) bucket; `prefix` has no leading or trailing `/` and
    /// may be empty. Credentials, region and endpoint come from the standard `AWS_*`
    /// environment variables, read by `object_store`.
    S3 { bucket: String, prefix: String },
}

/// Why a configuration could not be loaded. Every variant names the place (file,
/// key or environment variable) to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: invalid JSON at line {line}, column {column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: the configuration must be a JSON object, found {found}")]
    NotAnObject { origin: String, found: String },
    #[error("configuration key \"{key}\" is defined in both {first} and {second}")]
    DuplicateKey {
        key: String,
        first: String,
        second: String,
    },
    #[error("configuration directory {} contains no .json file", path.display())]
    EmptyDirectory { path: PathBuf },
    #[error("invalid value for \"{key}\": expected {expected}, found {found}")]
    InvalidValue {
        key: String,
        expected: &'static str,
        found: String,
    },
    /// An entry of a map of definitions (`DicomModalities.name`) that is not valid.
    #[error("invalid value for \"{key}\": {reason}")]
    InvalidEntry { key: String, reason: String },
    /// An option set to a value whose missing effect would expose or lose data.
    #[error("\"{key}\": true is refused: {reason}")]
    Refused { key: &'static str, reason: &'static str },
}

impl Config {
    /// Resolves a configuration from the text of one Orthanc-style JSON document and
    /// an environment lookup (`ISENGARD_*` overrides, `${VAR}` substitution). Pure.
    pub fn from_json_str(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let document = parse::parse_document(text, "configuration")?;
        resolve::resolve(document, env)
    }

    /// Loads the configuration file, or every `*.json` file of a directory, or the
    /// defaults when `path` is `None`; then applies the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with_env(path, &|name| std::env::var(name).ok())
    }

    /// [`Config::load`] with an explicit environment lookup.
    pub fn load_with_env(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let document = match path {
            None => serde_json::Value::Object(serde_json::Map::new()),
            Some(path) => parse::read_path(path)?,
        };
        let mut config = resolve::resolve(document, env)?;
        if let Some(path) = path {
            let base = if path.is_dir() {
                path
            } else {
                path.parent().unwrap_or(Path::new(""))
            };
            for script in &mut config.lua.scripts {
                if script.is_relative() {
                    *script = base.join(&*script);
                }
            }
        }
        Ok(config)
    }
}

impl Default for Config {
    /// The configuration of an empty document with no environment.
    fn default() -> Config {
        resolve::resolve(serde_json::Value::Object(serde_json::Map::new()), &|_| None)
            .expect("the empty configuration is valid")
    }
}

impl Config {
    /// The whole parsed document, as written after `${VAR}` substitution and
    /// without the `ISENGARD_*` overrides (so secrets given in the environment do
    /// not appear), for scripts: Lua's `GetOrthancConfiguration`. The node reads
    /// its options from the typed fields, never from here.
    pub fn document(&self) -> &serde_json::Value {
        &self.document
    }

    /// The blob store's location: [`BlobsConfig::url`] parsed, or the default
    /// `<StorageDirectory>/blobs`.
    pub fn blob_location(&self) -> BlobLocation {
        match &self.blobs.url {
            None => BlobLocation::Local(self.storage_directory.join("blobs")),
            Some(url) => resolve::parse_blob_url(url)
                .expect("BlobsConfig::url is validated when the configuration is resolved"),
        }
    }
}

impl std::fmt::Display for BlobLocation {
    /// A local path as written, or `s3://bucket[/prefix]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobLocation::Local(path) => write!(f, "{}", path.display()),
            BlobLocation::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            BlobLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}
