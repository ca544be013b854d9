//! DICOM parsing, Orthanc identifiers, main tags and tag JSON.
