//! Unit tests on literal JSON documents and fake environments.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_json_str(text, &no_env)
}

fn parse_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_json_str(text, &move |name| vars.get(name).cloned())
}

/// Asserts an `InvalidValue` error for `key` and returns its `found` text.
fn invalid_key(result: Result<Config, ConfigError>, key: &str) -> String {
    match result {
        Err(ConfigError::InvalidValue { key: k, found, .. }) if k == key => found,
        other => panic!("expected an invalid value for {key}, got {other:?}"),
    }
}

#[test]
fn empty_document_gives_orthanc_defaults() {
    let c = parse("{}").unwrap();
    assert_eq!(c.name, "Isengard");
    assert_eq!(c.storage_directory, PathBuf::from("OrthancStorage"));
    assert_eq!(c.index_directory, PathBuf::from("OrthancStorage"));
    assert_eq!((c.http_port, c.dicom_port), (8042, 4242));
    assert_eq!(c.dicom_aet, "ORTHANC");
    assert_eq!(c.stable_age, 60);
    assert!(!c.overwrite_instances);
    assert!(c.store_md5);
    assert!(!c.remote_access_allowed);
    assert!(!c.authentication_enabled);
    assert!(c.registered_users.is_empty());
    assert_eq!(c.http_bind, "0.0.0.0".parse::<IpAddr>().unwrap());
    assert_eq!(
        c.blob_location(),
        BlobLocation::Local(PathBuf::from("OrthancStorage/blobs"))
    );
    assert_eq!(c.blobs.url, None);
    assert!(c.blobs.fsync);
    assert!(c.unsupported_keys.is_empty());
    assert_eq!(c, Config::default());
}

#[test]
fn every_supported_key_with_comments() {
    let c = parse(
        r#"
        /* An Orthanc configuration
           with a block comment */
        {
          "Name" : "PACS-1", // trailing comment
          "StorageDirectory" : "/data/storage",
          "IndexDirectory" : "/fast/index",
          "HttpPort" : 8080,
          "DicomPort" : 11112,
          "DicomAet" : "ISENGARD",
          "StableAge" : 5,
          "OverwriteInstances" : true,
          "StoreMD5ForAttachments" : false,
          "RemoteAccessAllowed" : true,
          "AuthenticationEnabled" : false,
          "RegisteredUsers" : { "alice" : "secret", "bob" : "hunter2" },
          "Isengard" : {
            "HttpBind" : "127.0.0.1",
            "Blobs" : { "Url" : "s3://bucket/some/prefix/", "Fsync" : false }
          }
        }"#,
    )
    .unwrap();
    assert_eq!(c.name, "PACS-1");
    assert_eq!(c.storage_directory, PathBuf::from("/data/storage"));
    assert_eq!(c.index_directory, PathBuf::from("/fast/index"));
    assert_eq!((c.http_port, c.dicom_port), (8080, 11112));
    assert_eq!(c.dicom_aet, "ISENGARD");
    assert_eq!(c.stable_age, 5);
    assert!(c.overwrite_instances);
    assert!(!c.store_md5);
    assert!(c.remote_access_allowed);
    assert!(
        !c.authentication_enabled,
        "an explicit false wins over RemoteAccessAllowed"
    );
    assert_eq!(
        c.registered_users.get("bob").map(String::as_str),
        Some("hunter2")
    );
    assert_eq!(c.registered_users.len(), 2);
    assert_eq!(c.http_bind, "127.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(
        c.blob_location(),
        BlobLocation::S3 {
            bucket: "bucket".into(),
            prefix: "some/prefix".into()
        }
    );
    assert_eq!(c.blobs.url.as_deref().unwrap(), "s3://bucket/some/prefix");
    assert_eq!(c.blob_location().to_string(), "s3://bucket/some/prefix");
    assert!(!c.blobs.fsync);
    assert!(c.unsupported_keys.is_empty(), "{:?}", c.unsupported_keys);
    assert_eq!(c.raw["Isengard"]["HttpBind"], "127.0.0.1");
}

#[test]
fn authentication_defaults_to_remote_access_as_in_orthanc() {
    assert!(
        parse(r#"{"RemoteAccessAllowed": true}"#)
            .unwrap()
            .authentication_enabled
    );
    assert!(
        !parse(r#"{"RemoteAccessAllowed": false}"#)
            .unwrap()
            .authentication_enabled
    );
    assert!(
        parse(r#"{"AuthenticationEnabled": true}"#)
            .unwrap()
            .authentication_enabled
    );
}

#[test]
fn index_and_blobs_follow_storage_directory() {
    let c = parse(r#"{"StorageDirectory": "./isengard-data"}"#).unwrap();
    assert_eq!(c.index_directory, PathBuf::from("./isengard-data"));
    assert_eq!(
        c.blob_location(),
        BlobLocation::Local(PathBuf::from("./isengard-data/blobs"))
    );
    let c = parse(r#"{"Isengard": {"Blobs": {"Url": "file:///mnt/blobs"}}}"#).unwrap();
    assert_eq!(
        c.blob_location(),
        BlobLocation::Local(PathBuf::from("/mnt/blobs"))
    );
    assert_eq!(c.blobs.url.as_deref().unwrap(), "file:///mnt/blobs");
    let c = parse(r#"{"Isengard": {"Blobs": {"Url": "s3://only-bucket"}}}"#).unwrap();
    assert_eq!(
        c.blob_location(),
        BlobLocation::S3 {
            bucket: "only-bucket".into(),
            prefix: "".into()
        }
    );
}

#[test]
fn unsupported_and_unknown_keys_are_accepted_and_listed() {
    let c = parse(
        r#"{
          "DicomModalities" : { "pacs" : [ "PACS", "127.0.0.1", 104 ] },
          "SaveJobs" : false,
          "ConcurrentJobs" : 2,
          "TotallyMadeUp" : 1,
          "HttpPort" : 8042,
          "Isengard" : { "Replication" : { "Peers" : [] }, "Blobs" : { "Colour" : "red" } }
        }"#,
    )
    .unwrap();
    assert_eq!(
        c.unsupported_keys,
        [
            "ConcurrentJobs",
            "Isengard.Blobs.Colour",
            "Isengard.Replication",
            "SaveJobs",
            "TotallyMadeUp"
        ]
    );
    assert!(!is_orthanc_unimplemented("DicomModalities"));
    assert!(is_orthanc_unimplemented("ConcurrentJobs"));
    assert!(!is_orthanc_unimplemented("TotallyMadeUp"));
    assert_eq!(c.raw["DicomModalities"]["pacs"][2], 104);
    assert_eq!(
        c.raw["Isengard"]["Replication"]["Peers"],
        serde_json::json!([])
    );
}

#[test]
fn http_port_errors_name_the_key() {
    assert_eq!(
        invalid_key(parse(r#"{"HttpPort": "abc"}"#), "HttpPort"),
        "the string \"abc\""
    );
    assert_eq!(
        invalid_key(parse(r#"{"HttpPort": 70000}"#), "HttpPort"),
        "the number 70000"
    );
    assert_eq!(
        invalid_key(parse(r#"{"DicomPort": -1}"#), "DicomPort"),
        "the number -1"
    );
    invalid_key(parse(r#"{"DicomPort": 104.5}"#), "DicomPort");
    let message = parse(r#"{"HttpPort": "abc"}"#).unwrap_err().to_string();
    assert_eq!(
        message,
        "invalid value for \"HttpPort\": expected an integer from 0 to 65535, found the string \"abc\""
    );
}

#[test]
fn wrong_types_are_errors() {
    assert_eq!(
        invalid_key(parse(r#"{"StableAge": -5}"#), "StableAge"),
        "the number -5"
    );
    invalid_key(parse(r#"{"StableAge": "60"}"#), "StableAge");
    assert_eq!(invalid_key(parse(r#"{"Name": 3}"#), "Name"), "the number 3");
    invalid_key(parse(r#"{"StorageDirectory": null}"#), "StorageDirectory");
    invalid_key(parse(r#"{"IndexDirectory": []}"#), "IndexDirectory");
    invalid_key(parse(r#"{"DicomAet": {}}"#), "DicomAet");
    assert_eq!(
        invalid_key(
            parse(r#"{"OverwriteInstances": "true"}"#),
            "OverwriteInstances"
        ),
        "the string \"true\""
    );
    invalid_key(
        parse(r#"{"StoreMD5ForAttachments": 1}"#),
        "StoreMD5ForAttachments",
    );
    invalid_key(
        parse(r#"{"RemoteAccessAllowed": null}"#),
        "RemoteAccessAllowed",
    );
    invalid_key(
        parse(r#"{"AuthenticationEnabled": "yes"}"#),
        "AuthenticationEnabled",
    );
    invalid_key(parse(r#"{"Isengard": []}"#), "Isengard");
    invalid_key(
        parse(r#"{"Isengard": {"HttpBind": "localhost"}}"#),
        "Isengard.HttpBind",
    );
    invalid_key(
        parse(r#"{"Isengard": {"Blobs": "s3://x"}}"#),
        "Isengard.Blobs",
    );
    invalid_key(
        parse(r#"{"Isengard": {"Blobs": {"Url": "http://x"}}}"#),
        "Isengard.Blobs.Url",
    );
    invalid_key(
        parse(r#"{"Isengard": {"Blobs": {"Url": "file://relative"}}}"#),
        "Isengard.Blobs.Url",
    );
    invalid_key(
        parse(r#"{"Isengard": {"Blobs": {"Url": "s3:///prefix"}}}"#),
        "Isengard.Blobs.Url",
    );
    invalid_key(
        parse(r#"{"Isengard": {"Blobs": {"Fsync": "no"}}}"#),
        "Isengard.Blobs.Fsync",
    );
}

#[test]
fn registered_users_errors_do_not_echo_passwords() {
    let found = invalid_key(
        parse(r#"{"RegisteredUsers": ["alice", "secret"]}"#),
        "RegisteredUsers",
    );
    assert_eq!(found, "an array");
    let found = invalid_key(
        parse(r#"{"RegisteredUsers": {"alice": 12345}}"#),
        "RegisteredUsers",
    );
    assert!(!found.contains("12345"), "{found}");
    let found = invalid_key(
        parse(r#"{"RegisteredUsers": "alice:secret"}"#),
        "RegisteredUsers",
    );
    assert!(!found.contains("secret"), "{found}");
}

#[test]
fn syntax_errors_give_line_and_column() {
    let text = "{\n  // comment\n  \"HttpPort\": 8042,\n  \"Name\" \"x\"\n}";
    match parse(text) {
        Err(ConfigError::Syntax {
            line,
            column,
            ref message,
            ..
        }) => {
            assert_eq!(line, 4);
            assert_eq!(column, 10);
            assert!(message.contains("expected `:`"), "{message}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert!(matches!(parse(""), Err(ConfigError::Syntax { .. })));
    assert!(matches!(parse("{} {}"), Err(ConfigError::Syntax { .. })));
    assert!(
        matches!(parse("[1, 2]"), Err(ConfigError::NotAnObject { ref found, .. }) if found == "an array")
    );
    // A byte-order mark, as Windows editors write, is accepted.
    assert_eq!(parse("\u{feff}{\"HttpPort\": 1}").unwrap().http_port, 1);
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
    // raw keeps the document as written.
    assert_eq!(c.raw["HttpPort"], 8042);

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
        c.raw["UserMetadata"]["${KEY}"], "${OPEN",
        "keys and unterminated ${{ are kept"
    );
}

#[test]
fn lua_options() {
    let c = parse("{}").unwrap();
    assert!(c.lua.scripts.is_empty() && !c.lua.execute_enabled);
    assert_eq!((c.lua.heartbeat_period, c.lua.timeout_secs), (0, 10));
    let c = parse(
        r#"{"LuaScripts": ["a.lua", "/abs/b.lua"], "ExecuteLuaEnabled": true, "LuaHeartBeatPeriod": 5,
            "Isengard": {"LuaTimeout": 2}}"#,
    )
    .unwrap();
    assert_eq!(
        c.lua.scripts,
        [std::path::PathBuf::from("a.lua"), "/abs/b.lua".into()]
    );
    assert!(c.lua.execute_enabled);
    assert_eq!((c.lua.heartbeat_period, c.lua.timeout_secs), (5, 2));
    assert!(c.unsupported_keys.is_empty(), "{:?}", c.unsupported_keys);
    assert_eq!(
        parse(r#"{"LuaScripts": "one.lua"}"#)
            .unwrap()
            .lua
            .scripts
            .len(),
        1
    );
    assert_eq!(
        invalid_key(parse(r#"{"LuaScripts": [3]}"#), "LuaScripts"),
        "the number 3"
    );
    assert_eq!(
        invalid_key(
            parse(r#"{"Isengard": {"LuaTimeout": "x"}}"#),
            "Isengard.LuaTimeout"
        ),
        "the string \"x\""
    );
}
