//! DIMSE, the DICOM network protocol, with no archive behind it: what the
//! node's SCP edge and its use cases share.
//!
//! - [`message`]: DIMSE messages over a dicom-ul association (command sets and
//!   data sets in P-DATA), with an immediate TCP ACK requested before each PDU
//!   read (peers that keep Nagle on would otherwise wait 40 ms per message);
//! - [`dataset`]: file meta headers, identifiers, native transcoding;
//! - [`uids`]: the SOP classes and transfer syntaxes Isengard negotiates;
//! - [`scu`]: the client (C-ECHO, C-STORE sessions, C-FIND, C-MOVE) towards a
//!   [`scu::Target`]; it sends the bytes it is given and reads nothing itself.
//!
//! Errors are this crate's own ([`DatasetError`], [`scu::ScuError`],
//! [`message::MessageError`]); the node maps them to DIMSE statuses or HTTP.

pub mod dataset;
pub mod message;
pub mod scu;
pub mod uids;

/// Why a data set could not be decoded, encoded or transcoded.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The bytes or the transfer syntax make no sense (DIMSE: cannot understand).
    #[error("{0}")]
    Malformed(String),
    /// Understood, but this conversion is not possible (DIMSE: unable to process).
    #[error("{0}")]
    Unsupported(String),
}
