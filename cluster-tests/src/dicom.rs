//! A DICOM client for the cluster tests: C-STORE of DICOM files over one
//! association ([`StoreScu`], on Isengard's own `isengard_dimse::scu::store_on`), C-MOVE
//! ([`move_study`]) and a dcmtk `storescp` to receive ([`StoreScp`], from
//! `isengard-test-support`).

use std::net::SocketAddr;
use std::time::Duration;

use dicom_dictionary_std::tags;
use dicom_ul::association::client::AsyncClientAssociation;
use dicom_ul::association::ClientAssociationOptions;
use isengard::dicom::Tag;
use isengard::index::{Level, Modality};
use isengard_dimse::scu::{self, MoveReport, Target};
use isengard_test_support::synth::{CT_IMAGE_STORAGE, MR_IMAGE_STORAGE};
pub use isengard_test_support::StoreScp;
use tokio::net::TcpStream;

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

/// Why a C-STORE was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The node answered with a failure status (and its `ErrorComment`).
    #[error("C-STORE failure status 0x{status:04X}: {comment:?}")]
    Status {
        status: u16,
        comment: Option<String>,
    },
    /// No answer: connection refused, closed, timed out.
    #[error("C-STORE transport failure: {0}")]
    Transport(String),
}

/// An open C-STORE association to a node, proposing the synthetic data's SOP
/// classes (CT, MR) in explicit and implicit little endian.
pub struct StoreScu {
    assoc: AsyncClientAssociation<TcpStream>,
    next_id: u16,
    timeout: Duration,
}

impl StoreScu {
    /// Opens an association from `calling` to `called` at `addr`.
    pub async fn connect(
        addr: SocketAddr,
        calling: &str,
        called: &str,
        timeout: Duration,
    ) -> Result<StoreScu, StoreError> {
        let mut options = ClientAssociationOptions::new()
            .calling_ae_title(calling.to_owned())
            .called_ae_title(called.to_owned())
            .read_timeout(timeout)
            .write_timeout(timeout)
            .connection_timeout(timeout);
        for class in [CT_IMAGE_STORAGE, MR_IMAGE_STORAGE] {
            options = options.with_presentation_context(class, vec![EXPLICIT_LE, IMPLICIT_LE]);
        }
        let address = addr.to_string();
        match tokio::time::timeout(timeout, options.establish_async(address.as_str())).await {
            Ok(Ok(assoc)) => Ok(StoreScu {
                assoc,
                next_id: 1,
                timeout,
            }),
            Ok(Err(e)) => Err(StoreError::Transport(e.to_string())),
            Err(_) => Err(StoreError::Transport("association timed out".into())),
        }
    }

    /// Sends one DICOM file (with its meta header); `Ok(status)` for success
    /// or a warning.
    pub async fn store(&mut self, file: &[u8]) -> Result<u16, StoreError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let contexts = self.assoc.presentation_contexts().to_vec();
        let sent = scu::store_on(&mut self.assoc, &contexts, id, ("", ""), "", file, None);
        let rsp = match tokio::time::timeout(self.timeout, sent).await {
            Ok(Ok(rsp)) => rsp,
            Ok(Err(e)) => return Err(StoreError::Transport(e.to_string())),
            Err(_) => return Err(StoreError::Transport("no C-STORE response in time".into())),
        };
        match rsp.status() {
            Some(s) if s == 0 || (s & 0xf000) == 0xb000 => Ok(s),
            s => Err(StoreError::Status {
                status: s.unwrap_or(0xffff),
                comment: rsp.string(tags::ERROR_COMMENT),
            }),
        }
    }

    /// Releases the association.
    pub async fn release(self) {
        let _ = tokio::time::timeout(self.timeout, self.assoc.release()).await;
    }
}

/// A modality record for `aet` at `addr` (every service allowed).
pub fn modality(name: &str, aet: &str, addr: SocketAddr) -> Modality {
    Modality::new(name, aet, &addr.ip().to_string(), addr.port())
}

/// C-MOVE of study `study_uid` from the node at `node` (AE `node_aet`),
/// requested as AE `calling`, to the AE `destination`.
pub async fn move_study(
    node: SocketAddr,
    node_aet: &str,
    calling: &str,
    study_uid: &str,
    destination: &str,
) -> Result<MoveReport, String> {
    let target = Target {
        local_aet: calling.to_owned(),
        remote_aet: node_aet.to_owned(),
        host: node.ip().to_string(),
        port: node.port(),
        timeout: Duration::from_secs(30),
    };
    scu::move_(
        &target,
        Level::Study,
        &[(Tag(0x0020, 0x000d), study_uid.to_owned())],
        destination,
    )
    .await
    .map_err(|e| e.to_string())
}
