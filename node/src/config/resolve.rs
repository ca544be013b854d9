//! From one JSON object and an environment lookup to a typed [`Config`]: defaults,
//! validation (every error names its key), `${VAR}` substitution, `ISENGARD_*`
//! overrides, and the list of keys accepted without being implemented. Keys are
//! read only through the table of `keys.rs` (see `values.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::blobs::resolve_placement;
use super::cluster::{cluster_env_overrides, resolve_cluster};
use super::dicom::{resolve_dicom_scp, resolve_modalities};
use super::keys;
use super::peers::resolve_peers;
use super::values::{
    boolean, collect_unknown, describe, describe_type, integer, invalid, invalid_secret, object,
    port, string, value, COUNT, PORT, SECONDS,
};
use super::{
    BlobLocation, BlobsConfig, Config, ConfigError, LuaConfig, DEFAULT_QUERY_RETRIEVE_SIZE,
};
use crate::blob::cache::DEFAULT_MB as DEFAULT_STORAGE_CACHE_MB;

use crate::dicom::charset::Encoding;

pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

const BLOB_URL: &str = "an s3://bucket/prefix or file:///absolute/path URL";
const USERS: &str = "an object mapping user names to password strings";
const USERS_ENV: &str = "a JSON object of strings, or user:password[,user:password...]";

/// Resolves `document` (a JSON object) against `env`.
pub(super) fn resolve(mut document: Value, env: Env<'_>) -> Result<Config, ConfigError> {
    substitute_env(&mut document, env);
    let empty = Map::new();
    let root = document.as_object().unwrap_or(&empty);
    for (key, reason) in keys::REFUSED_WHEN_TRUE {
        if root.get(*key) == Some(&Value::Bool(true)) {
            return Err(ConfigError::Refused { key, reason });
        }
    }
    let mut unsupported = Vec::new();
    collect_unknown(root, None, &mut unsupported);

    let name = string(root, keys::NAME)?.unwrap_or_else(|| "Isengard".to_owned());
    let mut storage_directory = PathBuf::from(
        string(root, keys::STORAGE_DIRECTORY)?.unwrap_or_else(|| "OrthancStorage".into()),
    );
    let index_directory = string(root, keys::INDEX_DIRECTORY)?.map(PathBuf::from);
    let mut http_port = port(root, keys::HTTP_PORT)?.unwrap_or(8042);
    let mut dicom_port = port(root, keys::DICOM_PORT)?.unwrap_or(4242);
    let dicom_aet = string(root, keys::DICOM_AET)?.unwrap_or_else(|| "ORTHANC".to_owned());
    let stable_age = integer(root, keys::STABLE_AGE, SECONDS)?.unwrap_or(60);
    let dicom_scu_timeout = integer(root, keys::DICOM_SCU_TIMEOUT, COUNT)?.unwrap_or(10);
    let limit_find_results = integer(root, keys::LIMIT_FIND_RESULTS, COUNT)?.unwrap_or(0) as usize;
    let limit_find_instances =
        integer(root, keys::LIMIT_FIND_INSTANCES, COUNT)?.unwrap_or(0) as usize;
    let case_sensitive_pn = boolean(root, keys::CASE_SENSITIVE_PN)?.unwrap_or(false);
    let overwrite_instances = boolean(root, keys::OVERWRITE_INSTANCES)?.unwrap_or(false);
    let store_md5 = boolean(root, keys::STORE_MD5)?.unwrap_or(true);
    let remote_access_allowed = boolean(root, keys::REMOTE_ACCESS_ALLOWED)?.unwrap_or(false);
    let authentication_enabled =
        boolean(root, keys::AUTHENTICATION_ENABLED)?.unwrap_or(remote_access_allowed);
    let mut registered_users = match value(root, keys::REGISTERED_USERS) {
        None => BTreeMap::new(),
        Some(v) => users_from_json(v)
            .ok_or_else(|| invalid_secret(keys::REGISTERED_USERS.path(), USERS, v))?,
    };
    let tcp_no_delay = boolean(root, keys::TCP_NO_DELAY)?.unwrap_or(true);
    let http_compression_enabled =
        boolean(root, keys::HTTP_COMPRESSION_ENABLED)?.unwrap_or(true);
    let webdav_default = super::WebDavConfig::default();
    let webdav = super::WebDavConfig {
        enabled: boolean(root, keys::WEBDAV_ENABLED)?.unwrap_or(webdav_default.enabled),
        upload_allowed: boolean(root, keys::WEBDAV_UPLOAD_ALLOWED)?
            .unwrap_or(webdav_default.upload_allowed),
        delete_allowed: boolean(root, keys::WEBDAV_DELETE_ALLOWED)?
            .unwrap_or(webdav_default.delete_allowed),
    };
    let metrics_enabled = boolean(root, keys::METRICS_ENABLED)?.unwrap_or(true);
    let user_metadata: BTreeSet<String> = object(root, keys::USER_METADATA)?
        .map(|names| names.keys().cloned().collect())
        .unwrap_or_default();
    let user_content_types = resolve_content_types(root)?;
    let check_revisions = boolean(root, keys::CHECK_REVISIONS)?.unwrap_or(false);
    let maximum_storage_cache_size =
        integer(root, keys::MAXIMUM_STORAGE_CACHE_SIZE, COUNT)?.unwrap_or(DEFAULT_STORAGE_CACHE_MB);
    let query_retrieve_size = integer(root, keys::QUERY_RETRIEVE_SIZE, COUNT)?
        .map_or(DEFAULT_QUERY_RETRIEVE_SIZE, |n| n as usize);
    let default_encoding = match string(root, keys::DEFAULT_ENCODING)? {
        None => Encoding::Latin1,
        Some(name) => Encoding::from_name(&name).ok_or_else(|| ConfigError::InvalidValue {
            key: keys::DEFAULT_ENCODING.path().to_owned(),
            expected: "one of Orthanc's encodings (Ascii, Utf8, Latin1...Latin5, Cyrillic, Windows1251, Arabic, Greek, Hebrew, Thai, Japanese, Chinese, JapaneseKanji, Korean, SimplifiedChinese)",
            found: describe(&Value::String(name)),
        })?,
    };
    let dicom_modalities = resolve_modalities(root)?;
    let orthanc_peers = resolve_peers(root)?;

    let isengard = object(root, keys::ISENGARD)?.unwrap_or(&empty);
    collect_unknown(isengard, Some(keys::ISENGARD), &mut unsupported);
    let http_bind = match string(isengard, keys::HTTP_BIND)? {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(text) => text.parse().map_err(|_| ConfigError::InvalidValue {
            key: keys::HTTP_BIND.path().to_owned(),
            expected: "an IP address such as 0.0.0.0, 127.0.0.1 or ::",
            found: describe(&Value::String(text)),
        })?,
    };
    let dicom_scp = resolve_dicom_scp(root, isengard)?;
    let blobs = object(isengard, keys::BLOBS)?.unwrap_or(&empty);
    collect_unknown(blobs, Some(keys::BLOBS), &mut unsupported);
    let mut blob_url = match string(blobs, keys::BLOBS_URL)? {
        None => None,
        Some(url) => Some(checked_blob_url(keys::BLOBS_URL.path(), &url)?),
    };
    let fsync = boolean(blobs, keys::BLOBS_FSYNC)?.unwrap_or(true);
    let cluster = match object(isengard, keys::CLUSTER)? {
        None => None,
        Some(section) => {
            collect_unknown(section, Some(keys::CLUSTER), &mut unsupported);
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
        orthanc_peers,
        default_encoding,
        http_compression_enabled,
        webdav,
        metrics_enabled,
        storage_directory,
        http_port,
        dicom_port,
        dicom_aet,
        case_sensitive_pn,
        limit_find_results,
        limit_find_instances,
        dicom_scu_timeout,
        dicom_scp,
        dicom_modalities,
        query_retrieve_size,
        stable_age,
        overwrite_instances,
        store_md5,
        maximum_storage_cache_size,
        user_metadata,
        user_content_types,
        check_revisions,
        remote_access_allowed,
        authentication_enabled,
        registered_users,
        http_bind,
        tcp_no_delay,
        document,
        unsupported_keys: unsupported,
    })
}

/// `UserContentType`: `{"name": number}` or `{"name": [number, "mime"]}`,
/// numbers from 1024 to 65535 as Orthanc requires.
fn resolve_content_types(
    root: &Map<String, Value>,
) -> Result<BTreeMap<String, (u16, Option<String>)>, ConfigError> {
    const EXPECTED: &str = "an object of name -> number (1024 to 65535) or [number, MIME type]";
    let Some(entries) = object(root, keys::USER_CONTENT_TYPE)? else {
        return Ok(BTreeMap::new());
    };
    let number = |v: &Value| {
        v.as_u64()
            .filter(|n| (1024..=65535).contains(n))
            .map(|n| n as u16)
    };
    let mut out = BTreeMap::new();
    for (name, v) in entries {
        let entry = match v {
            Value::Array(a) if a.len() == 2 => number(&a[0]).zip(a[1].as_str()).map(|(n, m)| (n, Some(m.to_owned()))),
            v => number(v).map(|n| (n, None)),
        };
        let entry = entry.ok_or_else(|| invalid(keys::USER_CONTENT_TYPE.path(), EXPECTED, v))?;
        out.insert(name.clone(), entry);
    }
    Ok(out)
}

fn resolve_lua(
    root: &Map<String, Value>,
    isengard: &Map<String, Value>,
) -> Result<LuaConfig, ConfigError> {
    const SCRIPTS: &str = "a list of Lua file paths";
    let scripts = match value(root, keys::LUA_SCRIPTS) {
        None => Vec::new(),
        // Orthanc also accepts a single path.
        Some(Value::String(s)) => vec![PathBuf::from(s)],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(PathBuf::from)
                    .ok_or_else(|| invalid(keys::LUA_SCRIPTS.path(), SCRIPTS, v))
            })
            .collect::<Result<_, _>>()?,
        Some(v) => return Err(invalid(keys::LUA_SCRIPTS.path(), SCRIPTS, v)),
    };
    let timeout_secs = integer(isengard, keys::LUA_TIMEOUT, SECONDS)?.unwrap_or(10);
    Ok(LuaConfig {
        scripts,
        execute_enabled: boolean(root, keys::EXECUTE_LUA_ENABLED)?.unwrap_or(false),
        heartbeat_period: integer(root, keys::LUA_HEART_BEAT_PERIOD, SECONDS)?.unwrap_or(0),
        timeout_secs: timeout_secs.max(1),
    })
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
