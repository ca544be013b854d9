//! Names of configuration keys: [`KEYS`], every key the resolver reads (and
//! honours), and the Orthanc 1.10 options Isengard accepts without implementing
//! them (listed at startup so nobody believes a setting is in effect when it is
//! not).
//!
//! The resolver reads the document only through a [`Key`], and only this module
//! makes them: a key added to the resolver is a line of the table below, and
//! `docs/configuration.md` must document every line (`file_tests.rs` checks).

/// A key the resolver reads: its path in the document, with sections joined by
/// `.` (`Isengard.Blobs.Url`). Orthanc's key names contain no `.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(&'static str);

impl Key {
    /// The full path, as error messages and the documentation write it.
    pub fn path(self) -> &'static str {
        self.0
    }

    /// The name inside its section (the last segment of the path).
    pub fn name(self) -> &'static str {
        self.0.rsplit('.').next().unwrap_or(self.0)
    }

    /// The path of the section holding this key; empty at the top level.
    pub fn section(self) -> &'static str {
        self.0.rsplit_once('.').map_or("", |(section, _)| section)
    }

    /// Whether other keys live inside this one (`Isengard`, `Isengard.Blobs`...).
    pub fn is_section(self) -> bool {
        KEYS.iter().any(|k| k.section() == self.0)
    }
}

/// Declares each key as a constant and lists them all in [`KEYS`].
macro_rules! keys {
    ($($id:ident = $path:literal;)*) => {
        $(pub(super) const $id: Key = Key($path);)*
        /// Every key the resolver reads, sections included.
        pub const KEYS: &[Key] = &[$($id),*];
    };
}

keys! {
    NAME = "Name";
    STORAGE_DIRECTORY = "StorageDirectory";
    INDEX_DIRECTORY = "IndexDirectory";
    HTTP_PORT = "HttpPort";
    DICOM_PORT = "DicomPort";
    DICOM_AET = "DicomAet";
    STABLE_AGE = "StableAge";
    OVERWRITE_INSTANCES = "OverwriteInstances";
    STORE_MD5 = "StoreMD5ForAttachments";
    REMOTE_ACCESS_ALLOWED = "RemoteAccessAllowed";
    AUTHENTICATION_ENABLED = "AuthenticationEnabled";
    REGISTERED_USERS = "RegisteredUsers";
    TCP_NO_DELAY = "TcpNoDelay";
    HTTP_COMPRESSION_ENABLED = "HttpCompressionEnabled";
    METRICS_ENABLED = "MetricsEnabled";
    USER_METADATA = "UserMetadata";
    USER_CONTENT_TYPE = "UserContentType";
    CHECK_REVISIONS = "CheckRevisions";
    MAXIMUM_STORAGE_CACHE_SIZE = "MaximumStorageCacheSize";
    QUERY_RETRIEVE_SIZE = "QueryRetrieveSize";
    // WebDAV (`/webdav`).
    WEBDAV_ENABLED = "WebDavEnabled";
    WEBDAV_UPLOAD_ALLOWED = "WebDavUploadAllowed";
    WEBDAV_DELETE_ALLOWED = "WebDavDeleteAllowed";
    // DICOM networking.
    CASE_SENSITIVE_PN = "CaseSensitivePN";
    LIMIT_FIND_RESULTS = "LimitFindResults";
    LIMIT_FIND_INSTANCES = "LimitFindInstances";
    DICOM_SCU_TIMEOUT = "DicomScuTimeout";
    DICOM_MODALITIES = "DicomModalities";
    DICOM_ALWAYS_ALLOW_ECHO = "DicomAlwaysAllowEcho";
    DICOM_ALWAYS_ALLOW_STORE = "DicomAlwaysAllowStore";
    DICOM_ALWAYS_ALLOW_FIND = "DicomAlwaysAllowFind";
    DICOM_ALWAYS_ALLOW_MOVE = "DicomAlwaysAllowMove";
    DICOM_ALWAYS_ALLOW_GET = "DicomAlwaysAllowGet";
    DICOM_CHECK_CALLED_AET = "DicomCheckCalledAet";
    DICOM_CHECK_MODALITY_HOST = "DicomCheckModalityHost";
    STRICT_AET_COMPARISON = "StrictAetComparison";
    UNKNOWN_SOP_CLASS_ACCEPTED = "UnknownSopClassAccepted";
    ACCEPTED_TRANSFER_SYNTAXES = "AcceptedTransferSyntaxes";
    DEFLATED_TS_ACCEPTED = "DeflatedTransferSyntaxAccepted";
    JPEG_TS_ACCEPTED = "JpegTransferSyntaxAccepted";
    JPEG2000_TS_ACCEPTED = "Jpeg2000TransferSyntaxAccepted";
    JPEG_LOSSLESS_TS_ACCEPTED = "JpegLosslessTransferSyntaxAccepted";
    JPIP_TS_ACCEPTED = "JpipTransferSyntaxAccepted";
    MPEG2_TS_ACCEPTED = "Mpeg2TransferSyntaxAccepted";
    MPEG4_TS_ACCEPTED = "Mpeg4TransferSyntaxAccepted";
    H265_TS_ACCEPTED = "H265TransferSyntaxAccepted";
    RLE_TS_ACCEPTED = "RleTransferSyntaxAccepted";
    DEFAULT_ENCODING = "DefaultEncoding";
    DICOM_SCP_TIMEOUT = "DicomScpTimeout";
    MAXIMUM_PDU_LENGTH = "MaximumPduLength";
    // Lua scripting (docs/lua.md); `OrthancPeers` seeds `/peers`.
    LUA_SCRIPTS = "LuaScripts";
    EXECUTE_LUA_ENABLED = "ExecuteLuaEnabled";
    LUA_HEART_BEAT_PERIOD = "LuaHeartBeatPeriod";
    ORTHANC_PEERS = "OrthancPeers";
    // Isengard's own section.
    ISENGARD = "Isengard";
    HTTP_BIND = "Isengard.HttpBind";
    DICOM_MAX_ASSOCIATIONS = "Isengard.DicomMaxAssociations";
    LUA_TIMEOUT = "Isengard.LuaTimeout";
    BLOBS = "Isengard.Blobs";
    BLOBS_URL = "Isengard.Blobs.Url";
    BLOBS_FSYNC = "Isengard.Blobs.Fsync";
    BLOBS_MODE = "Isengard.Blobs.Mode";
    BLOBS_REPLICAS = "Isengard.Blobs.Replicas";
    BLOBS_REPAIR_INTERVAL = "Isengard.Blobs.RepairInterval";
    CLUSTER = "Isengard.Cluster";
    CLUSTER_NODE_ID = "Isengard.Cluster.NodeId";
    CLUSTER_GRPC_LISTEN = "Isengard.Cluster.GrpcListen";
    CLUSTER_GRPC_ADVERTISE = "Isengard.Cluster.GrpcAdvertise";
    CLUSTER_MEMBERS = "Isengard.Cluster.Members";
    CLUSTER_SNAPSHOT_LOGS = "Isengard.Cluster.SnapshotLogs";
    CLUSTER_SNAPSHOT_KEEP_LOGS = "Isengard.Cluster.SnapshotKeepLogs";
}

/// Whether `name`, found in the section `section` (a path, empty at the top
/// level), is a key of [`KEYS`].
pub(super) fn is_read(section: &str, name: &str) -> bool {
    KEYS.iter()
        .any(|k| k.section() == section && k.name() == name)
}

/// Top-level options of Orthanc 1.10 (from its reference `Configuration.json`)
/// that Isengard accepts but does not implement (yet). Scripts still see them
/// in [`super::Config::document`].
pub const ORTHANC_UNIMPLEMENTED: &[&str] = &[
    "BuiltinDecoderTranscoderOrder",
    "ConcurrentJobs",
    "DatabaseServerIdentifier",
    "DefaultPrivateCreator",
    "DeidentifyLogs",
    "DeidentifyLogsDicomVersion",
    "DicomAlwaysAllowFindWorklist",
    "DicomAssociationCloseDelay",
    "DicomEchoChecksFind",
    "DicomLossyTranscodingQuality",
    "DicomModalitiesInDatabase",
    "DicomScuPreferredTransferSyntax",
    "DicomServerEnabled",
    "DicomThreadsCount",
    "DicomTlsCertificate",
    "DicomTlsEnabled",
    "DicomTlsPrivateKey",
    "DicomTlsRemoteCertificateRequired",
    "DicomTlsTrustedCertificates",
    "Dictionary",
    "ExternalDictionaries",
    "HttpDescribeErrors",
    "HttpProxy",
    "HttpRequestTimeout",
    "HttpServerEnabled",
    "HttpThreadsCount",
    "HttpTimeout",
    "HttpVerbose",
    "HttpsCACertificates",
    "HttpsVerifyPeers",
    "IngestTranscoding",
    "IngestTranscodingOfCompressed",
    "IngestTranscodingOfUncompressed",
    "JobsHistorySize",
    "KeepAlive",
    "LoadPrivateDictionary",
    "Locale",
    "LogExportedResources",
    "MallocArenaMax",
    "MaximumPatientCount",
    "MaximumStorageSize",
    "MediaArchiveSize",
    "OrthancExplorerEnabled",
    "OrthancPeersInDatabase",
    "Pkcs11",
    "Plugins",
    "SaveJobs",
    "SslCertificate",
    "SslCiphersAccepted",
    "SslEnabled",
    "SslMinimumProtocolVersion",
    "SslTrustedClientCertificates",
    "SslVerifyPeers",
    "StorageAccessOnFind",
    "StorageCommitmentReportsSize",
    "StorageCompression",
    "StoreDicom",
    "SyncStorageArea",
    "SynchronousCMove",
    "SynchronousZipStream",
    "TemporaryDirectory",
    "TranscodeDicomProtocol",
    "ZipLoaderThreads",
];

/// Whether `key` is an Orthanc 1.10 option that Isengard does not implement
/// (as opposed to a key Orthanc itself would not know).
pub fn is_orthanc_unimplemented(key: &str) -> bool {
    ORTHANC_UNIMPLEMENTED.binary_search(&key).is_ok()
}

/// Why an option of [`ORTHANC_UNIMPLEMENTED`] has no effect, as the start-up
/// warning says it.
pub fn unimplemented_reason(key: &str) -> &'static str {
    const JOBS: &[&str] = &[
        "ConcurrentJobs", "JobsHistorySize", "LimitJobs", "SaveJobs", "SynchronousZipStream",
        "ZipLoaderThreads", "StorageCommitmentReportsSize", "MediaArchiveSize",
    ];
    const PIXELS: &[&str] = &[
        "BuiltinDecoderTranscoderOrder", "DicomLossyTranscodingQuality",
        "DicomScuPreferredTransferSyntax", "IngestTranscoding", "IngestTranscodingOfCompressed",
        "IngestTranscodingOfUncompressed", "TranscodeDicomProtocol",
    ];
    const LIFECYCLE: &[&str] = &[
        "MaximumPatientCount", "MaximumStorageSize", "StorageCompression",
        "MaximumStorageMode",
    ];
    const HTTPS: &[&str] = &[
        "HttpProxy", "HttpTimeout", "HttpsCACertificates", "HttpsVerifyPeers", "Pkcs11",
        "SslCertificate", "SslCiphersAccepted", "SslEnabled", "SslMinimumProtocolVersion",
        "SslTrustedClientCertificates", "SslVerifyPeers", "OrthancPeersInDatabase",
    ];
    const TLS: &[&str] = &[
        "DicomTlsCertificate", "DicomTlsEnabled", "DicomTlsPrivateKey",
        "DicomTlsRemoteCertificateRequired", "DicomTlsTrustedCertificates",
    ];
    const PROCESS: &[&str] = &[
        "DicomThreadsCount", "HttpThreadsCount", "MallocArenaMax", "SyncStorageArea",
        "TemporaryDirectory", "DatabaseServerIdentifier", "Locale",
    ];
    if JOBS.contains(&key) {
        "jobs are not implemented yet"
    } else if PIXELS.contains(&key) {
        "Isengard does not decode or transcode pixel data yet"
    } else if LIFECYCLE.contains(&key) {
        "recycling, compression and revisions are not implemented yet"
    } else if HTTPS.contains(&key) {
        "HTTPS (server and peer client) is not implemented yet"
    } else if TLS.contains(&key) {
        "DICOM TLS is not implemented yet"
    } else if PROCESS.contains(&key) {
        "Isengard sizes and places this itself (tokio tasks, its own data directories)"
    } else {
        "not implemented yet"
    }
}

/// Options whose missing effect would expose or lose data when `true`: the
/// node refuses to start rather than run without them (plain HTTP instead of
/// HTTPS, plain DICOM instead of DICOM TLS), with the reason.
pub const REFUSED_WHEN_TRUE: &[(&str, &str)] = &[
    ("SslEnabled", "Isengard cannot serve HTTPS yet and will not serve plain HTTP in its place; put a TLS-terminating proxy in front and set SslEnabled to false"),
    ("DicomTlsEnabled", "Isengard cannot serve DICOM TLS yet and will not accept plain DICOM in its place; set DicomTlsEnabled to false"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unimplemented_list_is_sorted_unique_and_disjoint_from_the_keys_read() {
        for pair in ORTHANC_UNIMPLEMENTED.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{} must come before {}",
                pair[0],
                pair[1]
            );
        }
        for key in KEYS {
            assert!(
                !is_orthanc_unimplemented(key.path()),
                "{} is both read and not implemented",
                key.path()
            );
        }
        assert!(is_orthanc_unimplemented("ConcurrentJobs"));
        assert!(!is_orthanc_unimplemented("DicomModalities"));
        assert!(!is_orthanc_unimplemented("NoSuchOption"));
    }

    #[test]
    fn keys_are_unique_and_live_in_declared_sections() {
        for (i, key) in KEYS.iter().enumerate() {
            assert!(!KEYS[..i].contains(key), "{} is listed twice", key.path());
            let section = key.section();
            assert!(
                section.is_empty() || KEYS.iter().any(|k| k.path() == section),
                "the section of {} is not a key",
                key.path()
            );
        }
        assert_eq!(BLOBS_URL.name(), "Url");
        assert_eq!(BLOBS_URL.section(), "Isengard.Blobs");
        assert_eq!(NAME.section(), "");
        assert!(BLOBS.is_section() && ISENGARD.is_section() && !BLOBS_URL.is_section());
        assert!(is_read("Isengard.Cluster", "NodeId"));
        assert!(!is_read("", "NodeId"));
        assert!(!is_read("", "Isengard.HttpBind"));
    }
}
