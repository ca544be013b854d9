//! The DICOM network edge (DIMSE over dicom-ul): the SCP on `DicomPort` and the
//! SCU used by C-MOVE and the `/modalities` REST routes. Every service calls
//! the same protocol-neutral use cases as the REST API.

pub mod message;
