//! Names of configuration keys: the ones Isengard implements, and the Orthanc 1.10
//! options it accepts without implementing them (listed at startup so nobody
//! believes a setting is in effect when it is not).

/// Top-level keys that [`super::Config`] reads and honours.
pub const SUPPORTED: &[&str] = &[
    "Name",
    "StorageDirectory",
    "IndexDirectory",
    "HttpPort",
    "DicomPort",
    "DicomAet",
    "StableAge",
    "OverwriteInstances",
    "StoreMD5ForAttachments",
    "RemoteAccessAllowed",
    "AuthenticationEnabled",
    "RegisteredUsers",
    // DICOM networking (read from `Config::raw` by `dimse` and `service::dicom_query`).
    "CaseSensitivePN",
    "DicomAlwaysAllowEcho",
    "DicomAlwaysAllowFind",
    "DicomAlwaysAllowGet",
    "DicomAlwaysAllowMove",
    "DicomAlwaysAllowStore",
    "DicomCheckCalledAet",
    "DicomCheckModalityHost",
    "DicomModalities",
    "DicomScpTimeout",
    "DicomScuTimeout",
    "LimitFindInstances",
    "LimitFindResults",
    "MaximumPduLength",
    "StrictAetComparison",
    "UnknownSopClassAccepted",
    // The storage cache (read from `Config::raw` by `service::Archive::new`).
    "MaximumStorageCacheSize",
    // Read from `Config::raw` by `run` for the REST connections.
    "TcpNoDelay",
    // Lua scripting (docs/lua.md); `OrthancPeers` is read by `SendToPeer`.
    "ExecuteLuaEnabled",
    "LuaHeartBeatPeriod",
    "LuaScripts",
    "OrthancPeers",
    ISENGARD_SECTION,
];

/// The Isengard-specific section of the document.
pub const ISENGARD_SECTION: &str = "Isengard";

/// Keys of the `"Isengard"` section that are implemented.
pub const ISENGARD_SUPPORTED: &[&str] = &[
    "HttpBind",
    "Blobs",
    "DicomMaxAssociations",
    "Cluster",
    "LuaTimeout",
];

pub use super::blobs::BLOBS_SUPPORTED;

/// Top-level options of Orthanc 1.10 (from its reference `Configuration.json`)
/// that Isengard accepts but does not implement (yet). Values stay readable from
/// [`super::Config::raw`].
pub const ORTHANC_UNIMPLEMENTED: &[&str] = &[
    "AcceptedTransferSyntaxes",
    "BuiltinDecoderTranscoderOrder",
    "CheckRevisions",
    "ConcurrentJobs",
    "DatabaseServerIdentifier",
    "DefaultEncoding",
    "DefaultPrivateCreator",
    "DeflatedTransferSyntaxAccepted",
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
    "H265TransferSyntaxAccepted",
    "HttpCompressionEnabled",
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
    "Jpeg2000TransferSyntaxAccepted",
    "JpegLosslessTransferSyntaxAccepted",
    "JpegTransferSyntaxAccepted",
    "JpipTransferSyntaxAccepted",
    "KeepAlive",
    "LoadPrivateDictionary",
    "Locale",
    "LogExportedResources",
    "MallocArenaMax",
    "MaximumPatientCount",
    "MaximumStorageSize",
    "MediaArchiveSize",
    "MetricsEnabled",
    "Mpeg2TransferSyntaxAccepted",
    "Mpeg4TransferSyntaxAccepted",
    "OrthancExplorerEnabled",
    "OrthancPeersInDatabase",
    "Pkcs11",
    "Plugins",
    "QueryRetrieveSize",
    "RleTransferSyntaxAccepted",
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
    "UserContentType",
    "UserMetadata",
    "WebDavDeleteAllowed",
    "WebDavEnabled",
    "WebDavUploadAllowed",
    "ZipLoaderThreads",
];

/// Whether `key` is an Orthanc 1.10 option that Isengard does not implement
/// (as opposed to a key Orthanc itself would not know).
pub fn is_orthanc_unimplemented(key: &str) -> bool {
    ORTHANC_UNIMPLEMENTED.binary_search(&key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unimplemented_list_is_sorted_unique_and_disjoint_from_supported() {
        for pair in ORTHANC_UNIMPLEMENTED.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{} must come before {}",
                pair[0],
                pair[1]
            );
        }
        for key in SUPPORTED {
            assert!(
                !is_orthanc_unimplemented(key),
                "{key} is both supported and not"
            );
        }
        assert!(is_orthanc_unimplemented("ConcurrentJobs"));
        assert!(!is_orthanc_unimplemented("DicomModalities"));
        assert!(!is_orthanc_unimplemented("NoSuchOption"));
    }
}
