//! Unit tests on literal JSON documents (the environment: `env_tests.rs`).

use std::net::IpAddr;
use std::path::PathBuf;

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_json_str(text, &no_env)
}

/// Asserts an `InvalidValue` error for `key` and returns its `found` text.
pub(super) fn invalid_key(result: Result<Config, ConfigError>, key: &str) -> String {
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
    assert_eq!(c.document()["Isengard"]["HttpBind"], "127.0.0.1");
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
    assert_eq!(c.document()["DicomModalities"]["pacs"][2], 104);
    assert_eq!(
        c.document()["Isengard"]["Replication"]["Peers"],
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

#[test]
fn storage_cache_queries_metadata_and_tcp_options() {
    let c = parse("{}").unwrap();
    assert!(c.tcp_no_delay);
    assert_eq!(
        (c.maximum_storage_cache_size, c.query_retrieve_size),
        (128, 100)
    );
    assert!(c.user_metadata.is_empty());
    let c = parse(
        r#"{"TcpNoDelay": false, "MaximumStorageCacheSize": 0, "QueryRetrieveSize": 7,
            "UserMetadata": {"Sample": 1024, "Other": 1025}}"#,
    )
    .unwrap();
    assert!(!c.tcp_no_delay);
    assert_eq!(
        (c.maximum_storage_cache_size, c.query_retrieve_size),
        (0, 7)
    );
    assert_eq!(
        c.user_metadata.iter().collect::<Vec<_>>(),
        ["Other", "Sample"]
    );
    assert!(c.unsupported_keys.is_empty(), "{:?}", c.unsupported_keys);
    for (text, key) in [
        (r#"{"TcpNoDelay": "true"}"#, "TcpNoDelay"),
        (
            r#"{"MaximumStorageCacheSize": -1}"#,
            "MaximumStorageCacheSize",
        ),
        (r#"{"QueryRetrieveSize": "100"}"#, "QueryRetrieveSize"),
        (r#"{"UserMetadata": ["Sample"]}"#, "UserMetadata"),
        (r#"{"DicomScuTimeout": 1.5}"#, "DicomScuTimeout"),
        (r#"{"LimitFindResults": -3}"#, "LimitFindResults"),
        (r#"{"LimitFindInstances": "0"}"#, "LimitFindInstances"),
        (r#"{"CaseSensitivePN": 0}"#, "CaseSensitivePN"),
    ] {
        invalid_key(parse(text), key);
    }
}

#[test]
fn options_whose_absence_would_expose_data_are_refused() {
    for key in ["SslEnabled", "DicomTlsEnabled"] {
        let text = format!(r#"{{"{key}": true}}"#);
        match Config::from_json_str(&text, &|_| None) {
            Err(e @ ConfigError::Refused { .. }) => assert!(e.to_string().contains(key), "{e}"),
            other => panic!("{key}: true must be refused, got {other:?}"),
        }
        let text = format!(r#"{{"{key}": false}}"#);
        assert!(Config::from_json_str(&text, &|_| None).is_ok());
    }
    assert!(crate::config::unimplemented_reason("ConcurrentJobs").contains("jobs"));
}
