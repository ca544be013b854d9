//! The `isengard` binary's command line: version, help, and configuration
//! errors that stop it with a clear message instead of a panic.

use std::process::Command;

fn isengard(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_isengard"))
        .args(args)
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn version_and_help() {
    let (code, text) = isengard(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(
        text.trim(),
        format!("isengard {}", env!("CARGO_PKG_VERSION"))
    );
    let (code, text) = isengard(&["--help"]);
    assert_eq!(code, 0);
    assert!(text.contains("--verbose") && text.contains("--trace") && text.contains("--config"));
}

#[test]
fn configuration_errors_are_clear_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (r#"{ "HttpPort": "abc" }"#, "HttpPort"),
        (r#"{ "StableAge": -5 }"#, "StableAge"),
        (r#"{ "Name": "x", // unterminated"#, "line"),
        (
            r#"{ "RegisteredUsers": { "alice": 3 } }"#,
            "RegisteredUsers",
        ),
    ];
    for (i, (json, mention)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.json"));
        std::fs::write(&path, json).unwrap();
        let (code, text) = isengard(&[path.to_str().unwrap()]);
        assert_eq!(code, 2, "{json}: {text}");
        assert!(
            text.contains("configuration error") && text.contains(mention),
            "{json}: {text}"
        );
        assert!(!text.contains("panicked"), "{json}: {text}");
    }
    let (code, text) = isengard(&["--config=/nonexistent/isengard.json"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("/nonexistent/isengard.json"), "{text}");
}
