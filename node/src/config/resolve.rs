//! From one JSON object and an environment lookup to a typed [`Config`]: defaults,
//! validation (every error names its key), `${VAR}` substitution, `ISENGARD_*`
//! overrides, and the list of keys accepted without being implemented.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::blobs::resolve_placement;
use super::cluster::{cluster_env_overrides, resolve_cluster, CLUSTER_SUPPORTED};
use super::keys::{BLOBS_SUPPORTED, ISENGARD_SECTION, ISENGARD_SUPPORTED, SUPPORTED};
use super::{BlobLocation, BlobsConfig, Config, ConfigError, LuaConfig};

pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

const PORT: &str = "an integer from 0 to 65535";
const STRING: &str = "a string";
const BOOLEAN: &str = "true or false";
const BLOB_URL: &str = "an s3://bucket/prefix or file:///absolute/path URL";
const USERS: &str = "an object mapping user names to password strings";
const USERS_ENV: &str = "a JSON object of strings, or user:password[,user:password...]";

/// Resolves `document` (a JSON object) against `env`.
pub(super) fn resolve(mut document: Value, env: Env<'_>) -> Result<Config, ConfigError> {
    substitute_env(&mut document, env);
    let empty = Map::new();
    let root = document.as_object().unwrap_or(&empty);
    let mut unsupported: Vec<String> = root
        .keys()
        .filter(|k| !SUPPORTED.contains(&k.as_str()))
        .cloned()
        .collect();

    let name = string(root, "", "Name")?.unwrap_or_else(|| "Isengard".to_owned());
    let mut storage_directory = PathBuf::from(
        string(root, "", "StorageDirectory")?.unwrap_or_else(|| "OrthancStorage".into()),
    );
    let index_directory = string(root, "", "IndexDirectory")?.map(PathBuf::from);
    let mut http_port = port(root, "", "HttpPort")?.unwrap_or(8042);
    let mut dicom_port = port(root, "", "DicomPort")?.unwrap_or(4242);
    let dicom_aet = string(root, "", "DicomAet")?.unwrap_or_else(|| "ORTHANC".to_owned());
    let stable_age = match root.get("StableAge") {
        None => 60,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid("StableAge", "a non-negative integer (seconds)", v))?,
    };
    let count = |key: &str, default: u64| match root.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid(key, "a non-negative integer", v)),
    };
    let dicom_scu_timeout = count("DicomScuTimeout", 10)?;
    let limit_find_results = count("LimitFindResults", 0)? as usize;
    let limit_find_instances = count("LimitFindInstances", 0)? as usize;
    let case_sensitive_pn = boolean(root, "", "CaseSensitivePN")?.unwrap_or(false);
    let overwrite_instances = boolean(root, "", "OverwriteInstances")?.unwrap_or(false);
    let store_md5 = boolean(root, "", "StoreMD5ForAttachments")?.unwrap_or(true);
    let remote_access_allowed = boolean(root, "", "RemoteAccessAllowed")?.unwrap_or(false);
    let authentication_enabled =
        boolean(root, "", "AuthenticationEnabled")?.unwrap_or(remote_access_allowed);
    let mut registered_users = match root.get("RegisteredUsers") {
        None => BTreeMap::new(),
        Some(v) => users_from_json(v).ok_or_else(|| invalid_secret("RegisteredUsers", USERS, v))?,
    };

    let isengard = section(root, "", ISENGARD_SECTION)?.unwrap_or(&empty);
    collect_unknown(isengard, "Isengard.", ISENGARD_SUPPORTED, &mut unsupported);
    let http_bind = match string(isengard, "Isengard.", "HttpBind")? {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(text) => text.parse().map_err(|_| ConfigError::InvalidValue {
            key: "Isengard.HttpBind".to_owned(),
            expected: "an IP address such as 0.0.0.0, 127.0.0.1 or ::",
            found: describe(&Value::String(text)),
        })?,
    };
    let blobs = section(isengard, "Isengard.", "Blobs")?.unwrap_or(&empty);
    collect_unknown(blobs, "Isengard.Blobs.", BLOBS_SUPPORTED, &mut unsupported);
    let mut blob_url = match string(blobs, "Isengard.Blobs.", "Url")? {
        None => None,
        Some(url) => Some(checked_blob_url("Isengard.Blobs.Url", &url)?),
    };
    let fsync = boolean(blobs, "Isengard.Blobs.", "Fsync")?.unwrap_or(true);
    let cluster = match section(isengard, "Isengard.", "Cluster")? {
        None => None,
        Some(section) => {
            collect_unknown(
                section,
                "Isengard.Cluster.",
                CLUSTER_SUPPORTED,
                &mut unsupported,
            );
            Some(resolve_cluster(&cluster_env_overrides(section, env)?)?)
        }
    };

    let lua = resolve_lua(root, isengard)?;

    // Environment overrides: the environment wins over the file.
    if let Some(text) = env_var(env, "ISENGARD_HTTP_PORT") {
        http_port = port_from_env("ISENGARD_HTTP_PORT", &text)?;
    }
    if let Some(text) = env_var(env, "ISENGARD_DICOM_PORT") {
        dicom_port = port_from_env("ISENGARD_DICOM_PORT", &text)?;
    }
    if let Some(text) = env_var(env, "ISENGARD_STORAGE_DIRECTORY") {
        storage_directory = PathBuf::from(text);
    }
    if let Some(text) = env_var(env, "ISENGARD_BLOBS_URL") {
        blob_url = Some(checked_blob_url("ISENGARD_BLOBS_URL", &text)?);
    }
    if let Some(text) = env_var(env, "ISENGARD_REGISTERED_USERS") {
        registered_users = users_from_env(&text)?;
    }
    let placement = resolve_placement(blobs, blob_url.as_deref(), cluster.as_ref())?;

    unsupported.sort();
    Ok(Config {
        name,
        index_directory: index_directory.unwrap_or_else(|| storage_directory.clone()),
        blobs: BlobsConfig {
            url: blob_url,
            fsync,
            mode: placement.mode,
            replicas: placement.replicas,
            repair_interval: placement.repair_interval,
        },
        cluster,
        lua,
        storage_directory,
        http_port,
        dicom_port,
        dicom_aet,
        case_sensitive_pn,
        limit_find_results,
        limit_find_instances,
        dicom_scu_timeout,
        stable_age,
        overwrite_instances,
        store_md5,
        remote_access_allowed,
        authentication_enabled,
        registered_users,
        http_bind,
        raw: document,
        unsupported_keys: unsupported,
    })
}

fn resolve_lua(
    root: &Map<String, Value>,
    isengard: &Map<String, Value>,
) -> Result<LuaConfig, ConfigError> {
    const SCRIPTS: &str = "a list of Lua file paths";
    let scripts = match root.get("LuaScripts") {
        None => Vec::new(),
        // Orthanc also accepts a single path.
        Some(Value::String(s)) => vec![PathBuf::from(s)],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(PathBuf::from)
                    .ok_or_else(|| invalid("LuaScripts", SCRIPTS, v))
            })
            .collect::<Result<_, _>>()?,
        Some(v) => return Err(invalid("LuaScripts", SCRIPTS, v)),
    };
    let seconds = |obj: &Map<String, Value>, key: &str, default: u64| match obj.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid(key, "a non-negative integer (seconds)", v)),
    };
    let timeout_secs = seconds(isengard, "LuaTimeout", 10).map_err(|e| match e {
        ConfigError::InvalidValue {
            expected, found, ..
        } => ConfigError::InvalidValue {
            key: "Isengard.LuaTimeout".to_owned(),
            expected,
            found,
        },
        other => other,
    })?;
    Ok(LuaConfig {
        scripts,
        execute_enabled: boolean(root, "", "ExecuteLuaEnabled")?.unwrap_or(false),
        heartbeat_period: seconds(root, "LuaHeartBeatPeriod", 0)?,
        timeout_secs: timeout_secs.max(1),
    })
}

/// A short, human description of a JSON value for error messages.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 60 => {
            format!("the string {:?}...", s.chars().take(60).collect::<String>())
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// Describes only the type: for values that may hold passwords.
fn describe_type(value: &Value) -> String {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object whose values are not all strings",
    }
    .to_owned()
}

fn invalid(key: &str, expected: &'static str, found: &Value) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        expected,
        found: describe(found),
    }
}

fn invalid_secret(key: &str, expected: &'static str, found: &Value) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        expected,
        found: describe_type(found),
    }
}

fn string(
    obj: &Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<Option<String>, ConfigError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(invalid(&format!("{prefix}{key}"), STRING, v)),
    }
}

fn boolean(obj: &Map<String, Value>, prefix: &str, key: &str) -> Result<Option<bool>, ConfigError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(invalid(&format!("{prefix}{key}"), BOOLEAN, v)),
    }
}

fn port(obj: &Map<String, Value>, prefix: &str, key: &str) -> Result<Option<u16>, ConfigError> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid(&format!("{prefix}{key}"), PORT, v)),
    }
}

fn section<'a>(
    obj: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, ConfigError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(v) => Err(invalid(&format!("{prefix}{key}"), "an object", v)),
    }
}

fn collect_unknown(obj: &Map<String, Value>, prefix: &str, known: &[&str], out: &mut Vec<String>) {
    out.extend(
        obj.keys()
            .filter(|k| !known.contains(&k.as_str()))
            .map(|k| format!("{prefix}{k}")),
    );
}

fn users_from_json(value: &Value) -> Option<BTreeMap<String, String>> {
    value
        .as_object()?
        .iter()
        .map(|(user, password)| Some((user.clone(), password.as_str()?.to_owned())))
        .collect()
}

/// `ISENGARD_REGISTERED_USERS`: a JSON object, or `user:password,user2:password2`.
fn users_from_env(text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let error = |found: String| ConfigError::InvalidValue {
        key: "ISENGARD_REGISTERED_USERS".to_owned(),
        expected: USERS_ENV,
        found,
    };
    if text.trim_start().starts_with('{') {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            error(format!(
                "invalid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        return users_from_json(&value).ok_or_else(|| error(describe_type(&value)));
    }
    let mut users = BTreeMap::new();
    for (index, entry) in text.split(',').enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        match entry.split_once(':') {
            Some((user, password)) if !user.trim().is_empty() => {
                users.insert(user.trim().to_owned(), password.to_owned());
            }
            _ => {
                return Err(error(format!(
                    "entry {} without a user name and ':'",
                    index + 1
                )))
            }
        }
    }
    Ok(users)
}

fn port_from_env(name: &str, text: &str) -> Result<u16, ConfigError> {
    text.trim().parse().map_err(|_| ConfigError::InvalidValue {
        key: name.to_owned(),
        expected: PORT,
        found: describe(&Value::String(text.to_owned())),
    })
}

/// Validates a blob URL and returns it normalized (see [`BlobsConfig::url`]).
fn checked_blob_url(key: &str, url: &str) -> Result<String, ConfigError> {
    let location = parse_blob_url(url).ok_or_else(|| ConfigError::InvalidValue {
        key: key.to_owned(),
        expected: BLOB_URL,
        found: describe(&Value::String(url.to_owned())),
    })?;
    Ok(match location {
        BlobLocation::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
        BlobLocation::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        BlobLocation::Local(path) => format!("file://{}", path.display()),
    })
}

/// Parses `s3://bucket[/prefix]` or `file:///absolute/path`.
pub(super) fn parse_blob_url(url: &str) -> Option<BlobLocation> {
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        let prefix = prefix.trim_matches('/').to_owned();
        return Some(BlobLocation::S3 {
            bucket: bucket.to_owned(),
            prefix,
        });
    }
    match url.strip_prefix("file://") {
        Some(path) if path.starts_with('/') => Some(BlobLocation::Local(PathBuf::from(path))),
        _ => None,
    }
}

/// A set, non-empty environment variable (an empty one counts as unset).
pub(super) fn env_var(env: Env<'_>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

/// Replaces `${NAME}` in every string value (not in keys) by the variable's value,
/// or by nothing when it is unset, as Orthanc does. An unterminated `${` stays.
fn substitute_env(value: &mut Value, env: Env<'_>) {
    match value {
        Value::String(s) if s.contains("${") => *s = substitute(s, env),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute_env(v, env)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute_env(v, env)),
        _ => {}
    }
}

fn substitute(text: &str, env: Env<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&env(&rest[start + 2..start + 2 + len]).unwrap_or_default());
        rest = &rest[start + 2 + len + 1..];
    }
    out.push_str(rest);
    out
}
