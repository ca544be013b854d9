//! Unit tests of the environment: `ISENGARD_*` overrides and `${VAR}`
//! substitution, with fake environments.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::tests::invalid_key;
use super::*;

fn parse_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_json_str(text, &move |name| vars.get(name).cloned())
}

#[test]
fn environment_overrides_win_over_the_file() {
    let file = r#"{
      "HttpPort": 8042, "DicomPort": 4242, "StorageDirectory": "/from/file",
      "RegisteredUsers": { "file-user": "x" },
      "Isengard": { "Blobs": { "Url": "file:///from/file" } }
    }"#;
    let c = parse_with(
        file,
        &[
            ("ISENGARD_HTTP_PORT", "9000"),
            ("ISENGARD_DICOM_PORT", "11112"),
            ("ISENGARD_STORAGE_DIRECTORY", "/from/env"),
            ("ISENGARD_BLOBS_URL", "s3://env-bucket/p"),
            ("ISENGARD_REGISTERED_USERS", "alice:pa:ss, bob:b"),
        ],
    )
    .unwrap();
    assert_eq!((c.http_port, c.dicom_port), (9000, 11112));
    assert_eq!(c.storage_directory, PathBuf::from("/from/env"));
    assert_eq!(c.index_directory, PathBuf::from("/from/env"));
    assert_eq!(
        c.blob_location(),
        BlobLocation::S3 {
            bucket: "env-bucket".into(),
            prefix: "p".into()
        }
    );
    let users: Vec<(&str, &str)> = c
        .registered_users
        .iter()
        .map(|(u, p)| (u.as_str(), p.as_str()))
        .collect();
    assert_eq!(users, [("alice", "pa:ss"), ("bob", "b")]);
    // The document stays as written.
    assert_eq!(c.document()["HttpPort"], 8042);

    // Without blob URL anywhere, the env storage directory moves the blobs too.
    let c = parse_with("{}", &[("ISENGARD_STORAGE_DIRECTORY", "/env")]).unwrap();
    assert_eq!(
        c.blob_location(),
        BlobLocation::Local(PathBuf::from("/env/blobs"))
    );
    // An empty variable counts as unset.
    assert_eq!(
        parse_with(file, &[("ISENGARD_HTTP_PORT", "")])
            .unwrap()
            .http_port,
        8042
    );
}

#[test]
fn registered_users_from_env_as_json() {
    let c = parse_with(
        "{}",
        &[("ISENGARD_REGISTERED_USERS", r#"{"alice": "s3cret"}"#)],
    )
    .unwrap();
    assert_eq!(
        c.registered_users.get("alice").map(String::as_str),
        Some("s3cret")
    );
    let found = invalid_key(
        parse_with(
            "{}",
            &[("ISENGARD_REGISTERED_USERS", r#"{"alice": "s3cret""#)],
        ),
        "ISENGARD_REGISTERED_USERS",
    );
    assert!(!found.contains("s3cret"), "{found}");
    invalid_key(
        parse_with("{}", &[("ISENGARD_REGISTERED_USERS", r#"{"a": 1}"#)]),
        "ISENGARD_REGISTERED_USERS",
    );
    let found = invalid_key(
        parse_with("{}", &[("ISENGARD_REGISTERED_USERS", "alice:x,nopassword")]),
        "ISENGARD_REGISTERED_USERS",
    );
    assert!(!found.contains("nopassword"), "{found}");
    invalid_key(
        parse_with("{}", &[("ISENGARD_REGISTERED_USERS", ":x")]),
        "ISENGARD_REGISTERED_USERS",
    );
}

#[test]
fn invalid_environment_values_name_the_variable() {
    invalid_key(
        parse_with("{}", &[("ISENGARD_HTTP_PORT", "abc")]),
        "ISENGARD_HTTP_PORT",
    );
    invalid_key(
        parse_with("{}", &[("ISENGARD_DICOM_PORT", "65536")]),
        "ISENGARD_DICOM_PORT",
    );
    invalid_key(
        parse_with("{}", &[("ISENGARD_BLOBS_URL", "/not/a/url")]),
        "ISENGARD_BLOBS_URL",
    );
}

#[test]
fn dollar_variables_are_substituted_in_string_values() {
    let c = parse_with(
        r#"{"Name": "node-${HOSTNAME}", "StorageDirectory": "${DATA}/orthanc",
            "DicomAet": "${UNSET}AET", "Isengard": {"Blobs": {"Url": "s3://${BUCKET}"}},
            "UserMetadata": {"${KEY}": "${OPEN"}}"#,
        &[("HOSTNAME", "a1"), ("DATA", "/srv"), ("BUCKET", "b")],
    )
    .unwrap();
    assert_eq!(c.name, "node-a1");
    assert_eq!(c.storage_directory, PathBuf::from("/srv/orthanc"));
    assert_eq!(c.dicom_aet, "AET");
    assert_eq!(
        c.blob_location(),
        BlobLocation::S3 {
            bucket: "b".into(),
            prefix: "".into()
        }
    );
    assert_eq!(
        c.document()["UserMetadata"]["${KEY}"],
        "${OPEN",
        "keys and unterminated ${{ are kept"
    );
}
