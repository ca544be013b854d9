//! Untrusted bytes never panic the DICOM reader: every pydicom test file,
//! truncated at many points and with bytes flipped at many offsets (seeded,
//! bounded), is either parsed or refused with an error.

use crate::common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn must_not_panic(bytes: &[u8], what: &str) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(parsed) = isengard::dicom::parse(bytes) {
            // Rendering what was accepted must not panic either.
            let _ = isengard::dicom::json::full(&parsed.object);
            let _ = isengard::dicom::json::header_full(&parsed.object);
        }
    }));
    assert!(outcome.is_ok(), "the reader panicked on {what}");
}

#[test]
fn truncated_and_corrupted_files_are_refused_without_panic() {
    let dir = common::pydicom_test_files().join("test_files");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    assert!(files.len() > 50, "pydicom's test files are there");
    let mut rng = StdRng::seed_from_u64(0x15e9);
    let mut runs = 0;
    for path in &files {
        let original = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        // Truncations: every prefix length on a coarse grid, plus the header area densely.
        let step = (original.len() / 40).max(1);
        for len in (0..original.len().min(400)).chain((400..original.len()).step_by(step)) {
            must_not_panic(&original[..len], &format!("{name} truncated to {len}"));
            runs += 1;
        }
        // Corruptions: flip one to four bytes, mostly within the first kilobytes
        // where lengths, VRs and tags live.
        for _ in 0..60 {
            let mut bytes = original.clone();
            for _ in 0..rng.gen_range(1..=4) {
                let limit = if rng.gen_bool(0.8) {
                    bytes.len().min(4096)
                } else {
                    bytes.len()
                };
                let at = rng.gen_range(0..limit);
                bytes[at] = rng.gen();
            }
            must_not_panic(&bytes, &format!("{name} corrupted"));
            runs += 1;
        }
    }
    // Pure garbage of assorted sizes, with and without a DICM preamble.
    for size in [0, 1, 4, 127, 128, 131, 132, 133, 200, 1000, 5000] {
        let mut bytes: Vec<u8> = (0..size).map(|_| rng.gen()).collect();
        must_not_panic(&bytes, &format!("{size} random bytes"));
        if size > 132 {
            bytes[128..132].copy_from_slice(b"DICM");
            must_not_panic(&bytes, &format!("{size} random bytes after DICM"));
        }
        runs += 2;
    }
    assert!(runs > 5_000);
}
