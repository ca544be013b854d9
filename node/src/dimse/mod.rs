//! The DICOM network edge: the SCP on `DicomPort` (DIMSE over dicom-ul). Every
//! service calls the same protocol-neutral use cases as the REST API; the
//! protocol itself (messages, data sets, UIDs, the SCU client) is the
//! `isengard-dimse` crate.
//!
//! - [`server`]: accept loop, negotiation, AE title rules, concurrency bound;
//! - [`association`]: one association's message loop and C-ECHO;
//! - [`store`], [`find`], [`retrieve`] (C-MOVE and C-GET): the services.
//!
//! [`DimseError`] is the one place service errors become DIMSE statuses.

pub mod association;
pub mod find;
pub mod retrieve;
pub mod server;
pub mod store;

pub use server::serve;

use crate::service::ServiceError;
use isengard_dimse::message::status;
use isengard_dimse::DatasetError;

/// Why a DIMSE request failed; [`DimseError::status`] is its DIMSE status.
#[derive(Debug, thiserror::Error)]
pub enum DimseError {
    /// Storage or index trouble (including no Raft leader): retryable.
    #[error("out of resources: {0}")]
    OutOfResources(String),
    /// The data set cannot be indexed (missing UIDs...).
    #[error("data set does not match the SOP class: {0}")]
    DataSetMismatch(String),
    /// Unparsable command or data set.
    #[error("cannot understand: {0}")]
    CannotUnderstand(String),
    /// The calling AE may not use this service.
    #[error("not authorized: {0}")]
    NotAuthorized(String),
    #[error("unknown move destination {0}")]
    UnknownDestination(String),
    #[error("SOP class not supported: {0}")]
    SopClassNotSupported(String),
    #[error("unable to process: {0}")]
    UnableToProcess(String),
}

impl DimseError {
    pub fn status(&self) -> u16 {
        match self {
            DimseError::OutOfResources(_) => status::OUT_OF_RESOURCES,
            DimseError::DataSetMismatch(_) => status::DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
            DimseError::CannotUnderstand(_) => status::CANNOT_UNDERSTAND,
            DimseError::NotAuthorized(_) => status::NOT_AUTHORIZED,
            DimseError::UnknownDestination(_) => status::MOVE_DESTINATION_UNKNOWN,
            DimseError::SopClassNotSupported(_) => status::SOP_CLASS_NOT_SUPPORTED,
            DimseError::UnableToProcess(_) => status::UNABLE_TO_PROCESS,
        }
    }

    /// The `ErrorComment` (0000,0902): at most 64 characters. For "out of
    /// resources" the cause alone (e.g. "no leader is available to accept
    /// writes (no quorum)"): the status already says the rest.
    pub fn comment(&self) -> String {
        let text = match self {
            DimseError::OutOfResources(cause) => cause.clone(),
            other => other.to_string(),
        };
        text.chars().take(64).collect()
    }
}

impl From<DatasetError> for DimseError {
    fn from(e: DatasetError) -> Self {
        match e {
            DatasetError::Malformed(reason) => DimseError::CannotUnderstand(reason),
            DatasetError::Unsupported(reason) => DimseError::UnableToProcess(reason),
        }
    }
}

impl From<ServiceError> for DimseError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::BadDicom(crate::dicom::DicomError::MissingTag { .. }) => {
                DimseError::DataSetMismatch(e.to_string())
            }
            ServiceError::BadDicom(_) => DimseError::CannotUnderstand(e.to_string()),
            ServiceError::Index(_)
            | ServiceError::Blob(_)
            | ServiceError::BlobBusy(_)
            | ServiceError::NotEnoughCopies { .. }
            | ServiceError::BlobUnavailable { .. } => DimseError::OutOfResources(e.to_string()),
            ServiceError::UnknownModality(m) => DimseError::UnknownDestination(m),
            ServiceError::FilteredOut(_) => DimseError::NotAuthorized(e.to_string()),
            other => DimseError::UnableToProcess(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexError;

    #[test]
    fn no_quorum_is_out_of_resources_with_the_cause_as_comment() {
        let e = DimseError::from(ServiceError::Index(IndexError::NoLeader));
        assert_eq!(e.status(), 0xA700);
        assert_eq!(
            e.comment(),
            "no leader is available to accept writes (no quorum)"
        );
        let long = DimseError::CannotUnderstand("x".repeat(100));
        assert_eq!(long.comment().chars().count(), 64);
    }
}
