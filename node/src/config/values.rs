//! Reading one key of the document as a typed value: the only way the resolver
//! reads a key (through a [`Key`] of the table in `keys.rs`), and the errors
//! that name it.

use serde_json::{Map, Value};

use super::keys::{self, Key};
use super::ConfigError;

pub(super) const BOOLEAN: &str = "true or false";
pub(super) const PORT: &str = "an integer from 0 to 65535";
pub(super) const STRING: &str = "a string";
pub(super) const COUNT: &str = "a non-negative integer";
pub(super) const SECONDS: &str = "a non-negative integer (seconds)";

/// The value of `key` in `obj`, the object of the key's section.
pub(super) fn value(obj: &Map<String, Value>, key: Key) -> Option<&Value> {
    obj.get(key.name())
}

pub(super) fn string(obj: &Map<String, Value>, key: Key) -> Result<Option<String>, ConfigError> {
    match value(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(invalid(key.path(), STRING, v)),
    }
}

pub(super) fn boolean(obj: &Map<String, Value>, key: Key) -> Result<Option<bool>, ConfigError> {
    match value(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(invalid(key.path(), BOOLEAN, v)),
    }
}

/// A non-negative integer; `expected` says what it counts in errors.
pub(super) fn integer(
    obj: &Map<String, Value>,
    key: Key,
    expected: &'static str,
) -> Result<Option<u64>, ConfigError> {
    match value(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(key.path(), expected, v)),
    }
}

pub(super) fn port(obj: &Map<String, Value>, key: Key) -> Result<Option<u16>, ConfigError> {
    match value(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid(key.path(), PORT, v)),
    }
}

/// A JSON object: a section of keys, or a map of entries (`DicomModalities`).
pub(super) fn object(
    obj: &Map<String, Value>,
    key: Key,
) -> Result<Option<&Map<String, Value>>, ConfigError> {
    match value(obj, key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(v) => Err(invalid(key.path(), "an object", v)),
    }
}

/// Adds to `out` the keys of `obj`, the object of `section` (`None`: the
/// top level), that no key of the table names.
pub(super) fn collect_unknown(
    obj: &Map<String, Value>,
    section: Option<Key>,
    out: &mut Vec<String>,
) {
    let path = section.map_or("", Key::path);
    out.extend(
        obj.keys()
            .filter(|name| !keys::is_read(path, name))
            .map(|name| match section {
                None => name.clone(),
                Some(_) => format!("{path}.{name}"),
            }),
    );
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
pub(super) fn describe_type(value: &Value) -> String {
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

pub(super) fn invalid(key: &str, expected: &'static str, found: &Value) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        expected,
        found: describe(found),
    }
}

pub(super) fn invalid_secret(key: &str, expected: &'static str, found: &Value) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        expected,
        found: describe_type(found),
    }
}
