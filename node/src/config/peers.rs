//! `OrthancPeers`: other Orthanc (or Isengard) servers, by symbolic name, in
//! either of Orthanc's forms: `["url", "user", "password"]` (user and password
//! optional) or `{"Url", "Username", "Password", "HttpHeaders"}` (Orthanc's
//! other options of a peer are accepted and ignored).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::keys;
use super::values::{describe_type, object};
use super::ConfigError;

/// One entry of `OrthancPeers`.
#[derive(Clone, PartialEq, Eq)]
pub struct OrthancPeer {
    /// The symbolic name (the entry's key).
    pub name: String,
    /// `Url`, without its trailing `/`.
    pub url: String,
    /// `Username` and `Password` for HTTP basic authentication; a user
    /// without a password has the empty one.
    pub credentials: Option<(String, String)>,
    /// `HttpHeaders`: sent with every request to the peer.
    pub http_headers: BTreeMap<String, String>,
}

impl std::fmt::Debug for OrthancPeer {
    /// Everything but the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrthancPeer")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("http_headers", &self.http_headers.keys())
            .finish()
    }
}

/// Orthanc's two forms of a peer.
#[derive(Deserialize)]
#[serde(untagged)]
enum Definition {
    Short(Vec<String>),
    Long(LongForm),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LongForm {
    url: String,
    username: Option<String>,
    password: Option<String>,
    #[serde(default)]
    http_headers: BTreeMap<String, String>,
}

const PEER: &str = "[\"url\", \"user\", \"password\"] or an object with a string Url (and optional string Username, Password and HttpHeaders)";

/// `OrthancPeers`, in the document's order. An entry's error names it
/// (`OrthancPeers.name`) and never echoes its value (it may hold a password).
pub(super) fn resolve_peers(root: &Map<String, Value>) -> Result<Vec<OrthancPeer>, ConfigError> {
    let Some(entries) = object(root, keys::ORTHANC_PEERS)? else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .map(|(name, value)| {
            peer(name, value).ok_or_else(|| ConfigError::InvalidValue {
                key: format!("{}.{name}", keys::ORTHANC_PEERS.path()),
                expected: PEER,
                found: match value {
                    Value::Object(_) => {
                        "an object without a string Url, or with a value of the wrong type"
                            .to_owned()
                    }
                    other => describe_type(other),
                },
            })
        })
        .collect()
}

fn peer(name: &str, value: &Value) -> Option<OrthancPeer> {
    let (url, user, password, http_headers) = match Definition::deserialize(value).ok()? {
        Definition::Short(items) if (1..=3).contains(&items.len()) => {
            let mut items = items.into_iter();
            let url = items.next()?;
            (url, items.next(), items.next(), BTreeMap::new())
        }
        Definition::Short(_) => return None,
        Definition::Long(l) => (l.url, l.username, l.password, l.http_headers),
    };
    Some(OrthancPeer {
        name: name.to_owned(),
        url: url.trim_end_matches('/').to_owned(),
        credentials: user.map(|u| (u, password.unwrap_or_default())),
        http_headers,
    })
}

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
                "b": {"Url": "http://h:1", "HttpHeaders": {"X-Token": "t"}, "Timeout": 5},
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
            ("a", "http://127.0.0.1:8043")
        );
        assert_eq!(a.credentials, Some(("alice".into(), "secret".into())));
        assert_eq!(b.credentials, None);
        assert_eq!(
            b.http_headers.iter().collect::<Vec<_>>(),
            [(&"X-Token".to_owned(), &"t".to_owned())]
        );
        assert_eq!((c.url.as_str(), &c.credentials), ("http://c", &None));
        assert!(!format!("{a:?}").contains("secret"));
    }

    #[test]
    fn bad_peers_name_their_entry_without_the_password() {
        for (text, key) in [
            (r#"{"OrthancPeers": []}"#, "OrthancPeers"),
            (r#"{"OrthancPeers": {"c": 3}}"#, "OrthancPeers.c"),
            (r#"{"OrthancPeers": {"e": []}}"#, "OrthancPeers.e"),
            (
                r#"{"OrthancPeers": {"f": ["u", "user", "pw", "x"]}}"#,
                "OrthancPeers.f",
            ),
            (
                r#"{"OrthancPeers": {"n": {"Username": "u"}}}"#,
                "OrthancPeers.n",
            ),
            (
                r#"{"OrthancPeers": {"p": {"Url": "u", "Password": 12345}}}"#,
                "OrthancPeers.p",
            ),
            (
                r#"{"OrthancPeers": {"h": {"Url": "u", "HttpHeaders": {"X": 1}}}}"#,
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
