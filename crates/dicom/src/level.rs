//! The four levels of Orthanc's resource hierarchy and the main tags of one
//! level: shared by parsing, the index and every edge.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The four levels of Orthanc's resource hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    Patient,
    Study,
    Series,
    Instance,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Patient, Level::Study, Level::Series, Level::Instance];

    /// Orthanc's `Type` / `ResourceType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Patient => "Patient",
            Level::Study => "Study",
            Level::Series => "Series",
            Level::Instance => "Instance",
        }
    }

    /// The REST collection name (`patients`, `studies`, ...).
    pub fn collection(self) -> &'static str {
        match self {
            Level::Patient => "patients",
            Level::Study => "studies",
            Level::Series => "series",
            Level::Instance => "instances",
        }
    }

    pub fn from_collection(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.collection() == s)
    }

    /// Parses Orthanc's level names as accepted by `/tools/find` (case-insensitive).
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "patient" | "patients" => Some(Level::Patient),
            "study" | "studies" => Some(Level::Study),
            "series" => Some(Level::Series),
            "instance" | "instances" | "image" => Some(Level::Instance),
            _ => None,
        }
    }

    pub fn parent(self) -> Option<Level> {
        match self {
            Level::Patient => None,
            Level::Study => Some(Level::Patient),
            Level::Series => Some(Level::Study),
            Level::Instance => Some(Level::Series),
        }
    }

    pub fn child(self) -> Option<Level> {
        match self {
            Level::Patient => Some(Level::Study),
            Level::Study => Some(Level::Series),
            Level::Series => Some(Level::Instance),
            Level::Instance => None,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(c: u8) -> Option<Level> {
        Level::ALL.get(c as usize).copied()
    }
}

/// Main DICOM tags of one level, keyed by Orthanc's tag name (`PatientName`).
pub type MainTags = BTreeMap<String, String>;
