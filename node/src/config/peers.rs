//! `OrthancPeers`: other Orthanc (or Isengard) servers, by symbolic name, in
//! either of Orthanc's forms (see [`peer_from_json`], which `PUT /peers/{name}`
//! uses too).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::keys;
use super::values::{describe_type, object};
use super::ConfigError;
use crate::index::Peer;

/// The keys of a peer's object form that Isengard reads; any other key is a
/// user property, kept and shown back as Orthanc does.
const KNOWN: [&str; 8] = [
    "Url",
    "Username",
    "Password",
    "HttpHeaders",
    "CertificateFile",
    "CertificateKeyFile",
    "CertificateKeyPassword",
    "Timeout",
];

/// Parses one peer definition in either of Orthanc's forms:
/// `["url"]`, `["url", "user", "password"]`, or an object with `Url` and
/// optional `Username`, `Password`, `HttpHeaders`, `CertificateFile`,
/// `CertificateKeyFile`, `CertificateKeyPassword`, `Pkcs11` and `Timeout`.
/// `Url` is kept with a trailing `/`, as Orthanc shows it. `Err` says what is
/// wrong without echoing any value (it may be a password).
pub fn peer_from_json(name: &str, value: &Value) -> Result<Peer, String> {
    let mut peer = Peer::new(name, "");
    match value {
        Value::Array(items) => {
            let strings: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            match strings.as_deref() {
                Some([url]) => peer.url = (*url).to_owned(),
                Some([url, user, password]) => {
                    peer.url = (*url).to_owned();
                    peer.username = Some((*user).to_owned());
                    peer.password = Some((*password).to_owned());
                }
                _ => return Err("the array form is [\"url\"] or [\"url\", \"user\", \"password\"]".into()),
            }
        }
        Value::Object(o) => {
            let text = |key: &str| match o.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("String value expected in field: {key}")),
            };
            peer.url = text("Url")?.unwrap_or_default();
            peer.username = text("Username")?;
            peer.password = text("Password")?;
            peer.certificate_file = text("CertificateFile")?;
            peer.certificate_key_file = text("CertificateKeyFile")?;
            peer.certificate_key_password = text("CertificateKeyPassword")?;
            peer.timeout = match o.get("Timeout") {
                None => 0,
                Some(v) => v
                    .as_u64()
                    .ok_or("Integer value expected in field: Timeout")?,
            };
            peer.pkcs11 = match o.get("Pkcs11") {
                None => false,
                Some(v) => v.as_bool().ok_or("Boolean value expected in field: Pkcs11")?,
            };
            if let Some(headers) = o.get("HttpHeaders") {
                let headers = headers
                    .as_object()
                    .ok_or("HttpHeaders must be an object of strings")?;
                for (k, v) in headers {
                    let v = v.as_str().ok_or("HttpHeaders must be an object of strings")?;
                    peer.http_headers.insert(k.clone(), v.to_owned());
                }
            }
            peer.user_properties = o
                .iter()
                .filter(|(k, _)| !KNOWN.contains(&k.as_str()) && k.as_str() != "Pkcs11")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>();
        }
        _ => return Err("a peer is an array or an object".into()),
    }
    if peer.url.is_empty() {
        return Err("Empty URL".into());
    }
    if !peer.url.starts_with("http://") && !peer.url.starts_with("https://") {
        return Err("The URL of a peer must start with http:// or https://".into());
    }
    if !peer.url.ends_with('/') {
        peer.url.push('/');
    }
    if peer.password.is_some() && peer.username.is_none() {
        return Err("A password is given without a username".into());
    }
    if peer.certificate_key_file.is_some() != peer.certificate_file.is_some() {
        return Err("CertificateFile and CertificateKeyFile go together".into());
    }
    Ok(peer)
}

/// `OrthancPeers`, in the document's order. An entry's error names it
/// (`OrthancPeers.name`) and never echoes its value (it may hold a password).
pub(super) fn resolve_peers(root: &Map<String, Value>) -> Result<Vec<Peer>, ConfigError> {
    let Some(entries) = object(root, keys::ORTHANC_PEERS)? else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .map(|(name, value)| {
            peer_from_json(name, value).map_err(|reason| ConfigError::InvalidValue {
                key: format!("{}.{name}", keys::ORTHANC_PEERS.path()),
                expected: PEER,
                found: match value {
                    Value::Object(_) | Value::Array(_) => reason,
                    other => describe_type(other),
                },
            })
        })
        .collect()
}

const PEER: &str = "[\"url\", \"user\", \"password\"] or an object with a string Url (and optional string Username, Password and HttpHeaders)";

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_json_str(text, &|_| None)
    }

    #[test]
    fn peers_in_both_orthanc_forms() {
        let c = parse(
            r#"{"OrthancPeers": {
                "a": ["http://127.0.0.1:8043/", "alice", "secret"],
                "b": {"Url": "http://h:1", "HttpHeaders": {"X-Token": "t"}, "Timeout": 5, "Site": 3},
                "c": ["http://c"]
            }}"#,
        )
        .unwrap();
        assert!(parse("{}").unwrap().orthanc_peers.is_empty());
        let [a, b, c] = &c.orthanc_peers[..] else {
            panic!("{:?}", c.orthanc_peers)
        };
        assert_eq!(
            (a.name.as_str(), a.url.as_str()),
            ("a", "http://127.0.0.1:8043/")
        );
        assert_eq!(
            (a.username.as_deref(), a.password.as_deref()),
            (Some("alice"), Some("secret"))
        );
        assert_eq!((b.username.as_deref(), b.timeout), (None, 5));
        assert_eq!(
            b.http_headers.iter().collect::<Vec<_>>(),
            [(&"X-Token".to_owned(), &"t".to_owned())]
        );
        assert_eq!((c.url.as_str(), &c.username), ("http://c/", &None));
        assert!(!format!("{a:?}").contains("secret"));
        assert_eq!(b.user_properties["Site"], 3);
    }

    #[test]
    fn bad_peers_name_their_entry_without_the_password() {
        for (text, key) in [
            (r#"{"OrthancPeers": []}"#, "OrthancPeers"),
            (r#"{"OrthancPeers": {"c": 3}}"#, "OrthancPeers.c"),
            (r#"{"OrthancPeers": {"e": []}}"#, "OrthancPeers.e"),
            (
                r#"{"OrthancPeers": {"f": ["http://u", "user", "pw", "x"]}}"#,
                "OrthancPeers.f",
            ),
            (
                r#"{"OrthancPeers": {"n": {"Username": "u"}}}"#,
                "OrthancPeers.n",
            ),
            (
                r#"{"OrthancPeers": {"p": {"Url": "http://u", "Password": 12345}}}"#,
                "OrthancPeers.p",
            ),
            (
                r#"{"OrthancPeers": {"h": {"Url": "http://u", "HttpHeaders": {"X": 1}}}}"#,
                "OrthancPeers.h",
            ),
        ] {
            match parse(text) {
                Err(e @ ConfigError::InvalidValue { .. }) => {
                    let ConfigError::InvalidValue { key: ref k, .. } = e else {
                        unreachable!()
                    };
                    assert_eq!(k, key, "{text}");
                    assert!(!e.to_string().contains("12345"), "{e}");
                }
                other => panic!("expected an invalid value in {text}, got {other:?}"),
            }
        }
    }
}
