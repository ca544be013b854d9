//! The reference Orthanc's answers on pydicom's test files, recorded by
//! `scripts/record-orthanc-fixtures.py` into `node/tests/fixtures/orthanc/`:
//! `index.json` (accepted stems, refused files) and one `<stem>.json` each.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `node/tests/fixtures/orthanc`. The manifest directory is read when the
/// test runs (cargo sets it): the compile-time value goes stale when the same
/// target directory serves a clone at another path without a rebuild.
pub fn dir() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.join("tests/fixtures/orthanc")
}

/// A JSON file, panicking with its path when it cannot be read.
pub fn load(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// `index.json`.
pub fn index() -> Value {
    load(&dir().join("index.json"))
}

/// One file Orthanc accepted: its stem, its recorded fixture and its bytes.
pub struct Accepted {
    pub stem: String,
    pub fixture: Value,
    pub bytes: Vec<u8>,
}

/// Every accepted file of `index`, read from pydicom's data folder `data`.
pub fn accepted(index: &Value, data: &Path) -> Vec<Accepted> {
    let stems = index["accepted"].as_array().unwrap();
    assert!(stems.len() >= 70, "fixtures look incomplete");
    stems
        .iter()
        .map(|stem| {
            let stem = stem.as_str().unwrap().to_owned();
            let fixture = load(&dir().join(format!("{stem}.json")));
            let source = &fixture["source"];
            let src = data
                .join(source["dir"].as_str().unwrap())
                .join(source["file"].as_str().unwrap());
            let bytes = std::fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
            Accepted {
                stem,
                fixture,
                bytes,
            }
        })
        .collect()
}
