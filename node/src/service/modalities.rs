//! The modalities (DICOM peers) of the archive, replicated through the index so
//! every node sees the same list. `DicomModalities` of the configuration seeds
//! it at start-up; `PUT`/`DELETE /modalities/{name}` change it at run time.
//!
//! Both of Orthanc's JSON forms are accepted: `["AET", "host", port]` (an
//! optional 4th item is the manufacturer) and the object form with `AET`,
//! `Host`, `Port`, `Manufacturer`, `AllowEcho`, `AllowFind`, ...

use serde_json::{json, Value};

use super::{Archive, Result, ServiceError};
use crate::index::{Command, CommandResponse, Modality};

fn bad(name: &str, reason: impl Into<String>) -> ServiceError {
    ServiceError::BadModality {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// Parses one modality definition in either of Orthanc's forms.
pub fn modality_from_json(name: &str, value: &Value) -> Result<Modality> {
    if name.is_empty() || name.contains('/') {
        return Err(bad(
            name,
            "the modality name must be non-empty and contain no '/'",
        ));
    }
    let port_of = |v: &Value| -> Result<u16> {
        let port = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        port.filter(|p| (1..=65535).contains(p))
            .map(|p| p as u16)
            .ok_or_else(|| bad(name, format!("bad port {v}: expected 1 to 65535")))
    };
    let text = |v: Option<&Value>, what: &str| -> Result<String> {
        match v {
            Some(Value::String(s)) => Ok(s.clone()),
            None => Ok(String::new()),
            Some(other) => Err(bad(name, format!("{what} must be a string, not {other}"))),
        }
    };
    let mut m = Modality::new(name, "", "", 104);
    match value {
        Value::Array(items) if (3..=4).contains(&items.len()) => {
            m.aet = text(items.first(), "the AET")?;
            m.host = text(items.get(1), "the host")?;
            m.port = port_of(&items[2])?;
            if let Some(man) = items.get(3) {
                m.manufacturer = text(Some(man), "the manufacturer")?;
            }
        }
        Value::Object(o) => {
            m.aet = text(o.get("AET"), "AET")?;
            m.host = text(o.get("Host"), "Host")?;
            m.port = port_of(o.get("Port").ok_or_else(|| bad(name, "Port is missing"))?)?;
            if let Some(man) = o.get("Manufacturer") {
                m.manufacturer = text(Some(man), "Manufacturer")?;
            }
            m.local_aet = text(o.get("LocalAet"), "LocalAet")?;
            let flag = |key: &str, default: bool| -> Result<bool> {
                match o.get(key) {
                    None => Ok(default),
                    Some(Value::Bool(b)) => Ok(*b),
                    Some(other) => Err(bad(
                        name,
                        format!("{key} must be true or false, not {other}"),
                    )),
                }
            };
            m.allow_echo = flag("AllowEcho", true)?;
            m.allow_find = flag("AllowFind", true)?;
            m.allow_find_worklist = flag("AllowFindWorklist", true)?;
            m.allow_get = flag("AllowGet", true)?;
            m.allow_move = flag("AllowMove", true)?;
            m.allow_store = flag("AllowStore", true)?;
            m.allow_n_action = flag("AllowNAction", true)?;
            m.allow_event_report = flag("AllowEventReport", true)?;
            m.allow_transcoding = flag("AllowTranscoding", true)?;
            m.timeout = match o.get("Timeout") {
                None => 0,
                Some(v) => v
                    .as_u64()
                    .ok_or_else(|| bad(name, "Timeout must be a number of seconds"))?,
            };
        }
        _ => {
            return Err(bad(
                name,
                "expected [\"AET\", \"host\", port] or an object with AET, Host, Port",
            ))
        }
    }
    if m.aet.is_empty() || m.aet.len() > 16 {
        return Err(bad(name, "the AET must have 1 to 16 characters"));
    }
    if m.host.is_empty() {
        return Err(bad(name, "the host is missing"));
    }
    Ok(m)
}

/// Orthanc's object form (`/modalities?expand`, `/modalities/{name}/configuration`).
pub fn modality_to_json(m: &Modality) -> Value {
    json!({
        "AET": m.aet,
        "AllowEcho": m.allow_echo,
        "AllowEventReport": m.allow_event_report,
        "AllowFind": m.allow_find,
        "AllowFindWorklist": m.allow_find_worklist,
        "AllowGet": m.allow_get,
        "AllowMove": m.allow_move,
        "AllowNAction": m.allow_n_action,
        "AllowStore": m.allow_store,
        "AllowTranscoding": m.allow_transcoding,
        "Host": m.host,
        "LocalAet": m.local_aet,
        "Manufacturer": m.manufacturer,
        "Port": m.port,
        "Timeout": m.timeout,
        "UseDicomTls": false,
    })
}

impl Archive {
    pub fn modalities(&self) -> Result<Vec<Modality>> {
        Ok(self.node.reader().modalities()?)
    }

    pub fn modality(&self, name: &str) -> Result<Modality> {
        self.node
            .reader()
            .modality(name)?
            .ok_or_else(|| ServiceError::UnknownModality(name.to_owned()))
    }

    /// The modality whose AE title is `aet` (compared as `StrictAetComparison`
    /// says: exactly, or case-insensitively by default).
    pub fn modality_by_aet(&self, aet: &str) -> Result<Option<Modality>> {
        let strict = self
            .config
            .raw
            .get("StrictAetComparison")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let aet = aet.trim();
        Ok(self.modalities()?.into_iter().find(|m| {
            if strict {
                m.aet == aet
            } else {
                m.aet.eq_ignore_ascii_case(aet)
            }
        }))
    }

    pub async fn put_modality(&self, modality: Modality) -> Result<()> {
        self.node.write(Command::PutModality { modality }).await?;
        Ok(())
    }

    pub async fn delete_modality(&self, name: &str) -> Result<()> {
        match self
            .node
            .write(Command::DeleteModality {
                name: name.to_owned(),
            })
            .await?
        {
            CommandResponse::UnknownResource => Err(ServiceError::UnknownModality(name.to_owned())),
            _ => Ok(()),
        }
    }

    /// Writes the configuration's `DicomModalities` into the index (the
    /// configuration wins over run-time changes of the same names).
    pub async fn seed_modalities(&self) -> Result<usize> {
        let Some(Value::Object(entries)) = self.config.raw.get("DicomModalities") else {
            return Ok(0);
        };
        let mut count = 0;
        for (name, value) in entries {
            let modality = modality_from_json(name, value)?;
            if self.node.reader().modality(name)?.as_ref() != Some(&modality) {
                self.put_modality(modality).await?;
                count += 1;
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse() {
        let short = modality_from_json("pacs", &json!(["PACS", "127.0.0.1", 4243])).unwrap();
        assert_eq!(
            (short.aet.as_str(), short.host.as_str(), short.port),
            ("PACS", "127.0.0.1", 4243)
        );
        assert_eq!(short.manufacturer, "Generic");
        let long = modality_from_json(
            "ws",
            &json!({"AET": "WS", "Host": "10.0.0.2", "Port": "104", "AllowStore": false, "Manufacturer": "GE"}),
        )
        .unwrap();
        assert!(!long.allow_store && long.allow_find);
        assert_eq!(long.port, 104);
        assert_eq!(
            modality_from_json("ws", &modality_to_json(&long)).unwrap(),
            long
        );
    }

    #[test]
    fn bad_definitions_are_refused() {
        for bad_value in [
            json!(["PACS", "host"]),
            json!(["PACS", "host", 70000]),
            json!(["", "host", 104]),
            json!({"AET": "X", "Host": "h"}),
            json!({"AET": "X", "Host": "h", "Port": 104, "AllowEcho": "yes"}),
            json!("PACS"),
        ] {
            assert!(
                modality_from_json("m", &bad_value).is_err(),
                "{bad_value} accepted"
            );
        }
        assert!(modality_from_json("a/b", &json!(["A", "h", 1])).is_err());
    }
}
