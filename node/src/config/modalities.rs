//! One modality (a DICOM peer) in either of Orthanc's JSON forms:
//! `["AET", "host", port]` (an optional 4th item is the manufacturer) and the
//! object form with `AET`, `Host`, `Port`, `Manufacturer`, `AllowEcho`,
//! `AllowFind`, ... Read for `DicomModalities` and for `PUT /modalities/{name}`.

use serde_json::Value;

use crate::index::Modality;

/// Parses one modality definition in either of Orthanc's forms; the error
/// says what is wrong with it, in words.
pub fn modality_from_json(name: &str, value: &Value) -> Result<Modality, String> {
    if name.is_empty() || name.contains('/') {
        return Err("the modality name must be non-empty and contain no '/'".to_owned());
    }
    let port_of = |v: &Value| -> Result<u16, String> {
        let port = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        port.filter(|p| (1..=65535).contains(p))
            .map(|p| p as u16)
            .ok_or_else(|| format!("bad port {v}: expected 1 to 65535"))
    };
    let text = |v: Option<&Value>, what: &str| -> Result<String, String> {
        match v {
            Some(Value::String(s)) => Ok(s.clone()),
            None => Ok(String::new()),
            Some(other) => Err(format!("{what} must be a string, not {other}")),
        }
    };
    let mut m = Modality::new(name, "", "", 104);
    match value {
        Value::Array(items) if (3..=4).contains(&items.len()) => {
            m.aet = text(items.first(), "the AET")?;
            m.host = text(items.get(1), "the host")?;
            m.port = port_of(&items[2])?;
            if let Some(man) = items.get(3) {
                m.manufacturer = manufacturer(&text(Some(man), "the manufacturer")?)?;
            }
        }
        Value::Object(o) => {
            m.aet = text(o.get("AET"), "AET")?;
            m.host = text(o.get("Host"), "Host")?;
            m.port = port_of(o.get("Port").ok_or_else(|| "Port is missing".to_owned())?)?;
            if let Some(man) = o.get("Manufacturer") {
                m.manufacturer = manufacturer(&text(Some(man), "Manufacturer")?)?;
            }
            m.local_aet = text(o.get("LocalAet"), "LocalAet")?;
            let flag = |key: &str, default: bool| -> Result<bool, String> {
                match o.get(key) {
                    None => Ok(default),
                    Some(Value::Bool(b)) => Ok(*b),
                    Some(other) => Err(format!("{key} must be true or false, not {other}")),
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
                    .ok_or_else(|| "Timeout must be a number of seconds".to_owned())?,
            };
        }
        _ => {
            return Err(
                "expected [\"AET\", \"host\", port] or an object with AET, Host, Port".to_owned(),
            )
        }
    }
    if m.aet.is_empty() || m.aet.len() > 16 {
        return Err("the AET must have 1 to 16 characters".to_owned());
    }
    if m.host.is_empty() {
        return Err("the host is missing".to_owned());
    }
    Ok(m)
}

/// Orthanc 1.10's manufacturers of a modality; the obsolete ones it still
/// accepts (`MedInria`, `EFilm2`...) become `Generic`, as in Orthanc.
fn manufacturer(name: &str) -> Result<String, String> {
    const KNOWN: [&str; 5] = [
        "Generic",
        "GenericNoWildcardInDates",
        "GenericNoUniversalWildcard",
        "Vitrea",
        "GE",
    ];
    const OBSOLETE: [&str; 6] = [
        "AgfaImpax",
        "EFilm2",
        "MedInria",
        "ClearCanvas",
        "Dcm4Chee",
        "SyngoVia",
    ];
    if KNOWN.contains(&name) {
        Ok(name.to_owned())
    } else if OBSOLETE.contains(&name) {
        Ok("Generic".to_owned())
    } else {
        Err(format!(
            "unknown manufacturer {name}: expected one of {}",
            KNOWN.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert_eq!(long.manufacturer, "GE");
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

    #[test]
    fn manufacturers_are_orthancs() {
        let m = modality_from_json("m", &json!(["A", "h", 104, "MedInria"])).unwrap();
        assert_eq!(m.manufacturer, "Generic");
        let m = modality_from_json("m", &json!(["A", "h", 104, "GenericNoWildcardInDates"])).unwrap();
        assert_eq!(m.manufacturer, "GenericNoWildcardInDates");
        assert!(modality_from_json("m", &json!(["A", "h", 104, "Invalid"])).is_err());
    }
}
