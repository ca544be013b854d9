//! Orthanc-style JSON configuration.
