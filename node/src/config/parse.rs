//! From bytes to one JSON object: comments stripped, a directory's files merged.

use std::path::Path;

use serde_json::{Map, Value};

use super::ConfigError;

/// Parses one document (JSON with `//` and `/* */` comments, an optional UTF-8
/// byte-order mark) that must be an object. `origin` names it in errors.
pub(super) fn parse_document(text: &str, origin: &str) -> Result<Value, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Comments become spaces, so serde_json's line and column stay the file's.
    let stripped = json_comments::CommentSettings::c_style().strip_comments(text.as_bytes());
    let value: Value = serde_json::from_reader(stripped).map_err(|e| ConfigError::Syntax {
        origin: origin.to_owned(),
        line: e.line(),
        column: e.column(),
        message: syntax_message(&e),
    })?;
    if !value.is_object() {
        return Err(ConfigError::NotAnObject {
            origin: origin.to_owned(),
            found: super::values::describe(&value),
        });
    }
    Ok(value)
}

/// serde_json's message without its trailing " at line L column C".
fn syntax_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    }
}

/// Reads a configuration file, or merges every `*.json` file of a directory (in
/// name order; a top-level key defined in two files is an error, as in Orthanc).
pub(super) fn read_path(path: &Path) -> Result<Value, ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if !metadata.is_dir() {
        return read_file(path);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let file = entry.path();
        let is_json = file
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        if is_json && file.is_file() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(ConfigError::EmptyDirectory {
            path: path.to_owned(),
        });
    }
    files.sort();
    let mut merged = Map::new();
    let mut defined_in: Vec<(String, String)> = Vec::new();
    for file in &files {
        let Value::Object(object) = read_file(file)? else {
            unreachable!("parse_document returns objects only")
        };
        let origin = file.display().to_string();
        for (key, value) in object {
            if let Some((_, first)) = defined_in.iter().find(|(k, _)| *k == key) {
                return Err(ConfigError::DuplicateKey {
                    key,
                    first: first.clone(),
                    second: origin,
                });
            }
            defined_in.push((key.clone(), origin.clone()));
            merged.insert(key, value);
        }
    }
    Ok(Value::Object(merged))
}

fn read_file(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_document(&text, &path.display().to_string())
}
