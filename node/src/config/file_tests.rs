//! Unit tests that touch files: directories, the repository's own configuration
//! and documentation.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_json_str(text, &no_env)
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn a_directory_merges_its_json_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "orthanc.json",
        "{ // main\n \"HttpPort\": 8100, \"Name\": \"merged\" }",
    );
    write(
        dir.path(),
        "credentials.json",
        r#"{"RegisteredUsers": {"u": "p"}, "AuthenticationEnabled": true}"#,
    );
    write(dir.path(), "notes.txt", "not json, ignored");
    std::fs::create_dir(dir.path().join("sub.json")).unwrap();
    let c = Config::load_with_env(Some(dir.path()), &no_env).unwrap();
    assert_eq!(c.http_port, 8100);
    assert_eq!(c.name, "merged");
    assert!(c.authentication_enabled);
    assert_eq!(c.registered_users.get("u").map(String::as_str), Some("p"));
}

#[test]
fn a_key_in_two_files_of_a_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", r#"{"HttpPort": 1}"#);
    write(dir.path(), "b.json", r#"{"HttpPort": 2}"#);
    match Config::load_with_env(Some(dir.path()), &no_env) {
        Err(ConfigError::DuplicateKey { key, first, second }) => {
            assert_eq!(key, "HttpPort");
            assert!(
                first.ends_with("a.json") && second.ends_with("b.json"),
                "{first} {second}"
            );
        }
        other => panic!("expected a duplicate key error, got {other:?}"),
    }
}

#[test]
fn directory_and_file_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Config::load_with_env(Some(dir.path()), &no_env),
        Err(ConfigError::EmptyDirectory { .. })
    ));
    write(dir.path(), "bad.json", "{\n\"HttpPort\": }");
    match Config::load_with_env(Some(dir.path()), &no_env) {
        Err(e @ ConfigError::Syntax { .. }) => {
            assert!(
                e.to_string().contains("bad.json: invalid JSON at line 2"),
                "{e}"
            )
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    let missing = dir.path().join("missing.json");
    assert!(
        matches!(Config::load_with_env(Some(&missing), &no_env), Err(ConfigError::Io { path, .. }) if path == missing)
    );
}

#[test]
fn a_single_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.json", r#"{"DicomAet": "FILE"}"#);
    let c = Config::load_with_env(Some(&dir.path().join("c.json")), &no_env).unwrap();
    assert_eq!(c.dicom_aet, "FILE");
}

#[test]
fn the_make_run_configuration_is_valid() {
    let c = parse(include_str!("../../../scripts/dev-config.json")).unwrap();
    assert_eq!(c.name, "Isengard");
    assert_eq!(c.storage_directory, PathBuf::from("./isengard-data"));
    assert_eq!((c.http_port, c.dicom_port), (8042, 4242));
    assert_eq!(c.http_bind, "127.0.0.1".parse::<IpAddr>().unwrap());
    assert!(c.unsupported_keys.is_empty(), "{:?}", c.unsupported_keys);
}

/// `docs/configuration.md` documents every key of [`KEYS`], the table through
/// which the resolver reads the document: a key added to the resolver without
/// its documentation fails here.
#[test]
fn docs_document_every_key_the_resolver_reads() {
    let docs = include_str!("../../../docs/configuration.md");
    for key in KEYS {
        let path = key.path();
        if key.is_section() {
            assert!(
                docs.contains(&format!("`{path}`")),
                "docs/configuration.md never names the section `{path}`"
            );
            continue;
        }
        // A row of a key table: | `Key` | type | default | meaning |
        let row = docs
            .lines()
            .find(|line| line.starts_with(&format!("| `{path}` |")))
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for `{path}`"));
        let cells: Vec<&str> = row.trim().trim_matches('|').split('|').collect();
        assert!(
            cells.len() >= 4 && cells.iter().all(|cell| !cell.trim().is_empty()),
            "the row of `{path}` needs a type, a default and a meaning: {row}"
        );
    }
    for key in ORTHANC_UNIMPLEMENTED {
        assert!(
            docs.contains(&format!("`{key}`")),
            "docs/configuration.md misses `{key}`"
        );
    }
    for var in [
        "ISENGARD_REGISTERED_USERS",
        "ISENGARD_BLOBS_URL",
        "ISENGARD_HTTP_PORT",
        "ISENGARD_DICOM_PORT",
        "ISENGARD_STORAGE_DIRECTORY",
        super::cluster::NODE_ID_ENV,
        super::cluster::GRPC_ADVERTISE_ENV,
    ] {
        assert!(docs.contains(var), "docs miss {var}");
    }
}

#[test]
fn lua_scripts_are_relative_to_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "orthanc.json",
        r#"{"LuaScripts": ["route.lua", "/abs/x.lua"]}"#,
    );
    let c = Config::load_with_env(Some(&dir.path().join("orthanc.json")), &no_env).unwrap();
    assert_eq!(
        c.lua.scripts,
        [dir.path().join("route.lua"), PathBuf::from("/abs/x.lua")]
    );
    // A configuration directory is the base of its own relative paths.
    let c = Config::load_with_env(Some(dir.path()), &no_env).unwrap();
    assert_eq!(c.lua.scripts[0], dir.path().join("route.lua"));
    // Without a file, relative paths stay relative (to the working directory).
    assert_eq!(
        parse(r#"{"LuaScripts": ["route.lua"]}"#)
            .unwrap()
            .lua
            .scripts[0],
        PathBuf::from("route.lua")
    );
}
