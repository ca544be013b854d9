//! `make test` runs the benchmark harness on the tiny data set: every
//! workload must produce a number for both servers, and the report must be
//! written where it is asked to (a temporary file here, never docs/). The
//! numbers themselves are not checked: no benchmark is a timed test.
//!
//! Needs the `isengard` binary beside the runner (`cargo test --workspace`,
//! which `make test` runs, builds it), the reference Orthanc at
//! /usr/sbin/Orthanc and dcmtk.

use std::process::Command;

use serde_json::Value;

#[test]
fn tiny_run_measures_every_workload_on_both_servers() {
    let runner = env!("CARGO_BIN_EXE_isengard-benches");
    let isengard = std::path::Path::new(runner).with_file_name("isengard");
    assert!(
        isengard.exists(),
        "{} is missing: cargo build --release --bin isengard",
        isengard.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let (out, json) = (dir.path().join("report.md"), dir.path().join("report.json"));
    let status = Command::new(runner)
        .args(["--scale", "tiny", "--out"])
        .arg(&out)
        .arg("--json")
        .arg(&json)
        .arg("--work-dir")
        .arg(dir.path())
        .status()
        .expect("run the bench runner");
    assert!(status.success(), "the bench runner failed: {status}");

    let markdown = std::fs::read_to_string(&out).expect("the report is written to --out");
    assert!(markdown.contains("<!-- bench:begin -->") && markdown.contains("<!-- bench:end -->"));
    for heading in [
        "### Machine",
        "### Bandwidth",
        "Ingest",
        "Retrieval",
        "Find on an archive of 200",
        "3-node cluster",
    ] {
        assert!(
            markdown.contains(heading),
            "the report lacks {heading:?}:\n{markdown}"
        );
    }

    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let count = |section: &str| {
        rows.iter()
            .filter(|r| r["section"].as_str().unwrap().starts_with(section))
            .count()
    };
    assert_eq!(count("Ingest"), 4, "{report:#}");
    assert_eq!(count("3-node cluster"), 3, "{report:#}");
    assert_eq!(count("Retrieval"), 5, "{report:#}");
    assert_eq!(count("Find on an archive of 100 "), 16, "{report:#}");
    assert_eq!(count("Find on an archive of 200 "), 16, "{report:#}");
    assert!(count("Memory") >= 3, "{report:#}");
    for row in rows {
        for side in ["first", "second"] {
            let measured = row[side]["median"].as_f64().is_some_and(|m| m > 0.0);
            // A route Isengard lacks is reported as such, not as a number.
            let explained = row[side]["missing"].is_string()
                && row["workload"].as_str().unwrap().contains("/archive");
            assert!(
                measured || explained,
                "no number for {} in {row:#}",
                row[side]["server"]
            );
        }
    }
    assert!(
        !markdown.contains("expected from the data set"),
        "wrong answers:\n{markdown}"
    );
}
