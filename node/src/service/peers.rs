//! The Orthanc peers of the archive (other Orthanc or Isengard servers reached
//! over HTTP), replicated through the index so every node sees the same list:
//! `OrthancPeers` of the configuration seeds it at start-up, and
//! `PUT`/`DELETE /peers/{name}` change it at run time. Both of Orthanc's JSON
//! forms are accepted (`config::peer_from_json`); answers use Orthanc's public
//! form, which never shows a password.

use serde_json::{json, Map, Value};

use super::{Archive, Result, ServiceError};
use crate::config;
use crate::index::{Command, CommandResponse, Peer};

/// Parses one peer definition in either of Orthanc's forms, and checks that
/// the certificate files it names exist (as Orthanc does when it is defined).
pub fn peer_from_json(name: &str, value: &Value) -> Result<Peer> {
    let peer = config::peer_from_json(name, value).map_err(|reason| ServiceError::BadPeer {
        name: name.to_owned(),
        reason,
    })?;
    for file in [&peer.certificate_file, &peer.certificate_key_file]
        .into_iter()
        .flatten()
    {
        if !std::path::Path::new(file).is_file() {
            return Err(ServiceError::MissingFile(format!(
                "Cannot open certificate file: {file}"
            )));
        }
    }
    Ok(peer)
}

/// Orthanc's public form (`/peers?expand`, `/peers/{name}/configuration`):
/// header names without values, `Password` null when one is set, user
/// properties as given.
pub fn peer_to_json(p: &Peer) -> Value {
    let mut o = Map::new();
    for (k, v) in &p.user_properties {
        o.insert(k.clone(), v.clone());
    }
    o.insert("Url".into(), json!(p.url));
    if let Some(user) = &p.username {
        o.insert("Username".into(), json!(user));
        o.insert("Password".into(), Value::Null);
    }
    if let Some(file) = &p.certificate_file {
        o.insert("CertificateFile".into(), json!(file));
        o.insert("CertificateKeyFile".into(), json!(p.certificate_key_file));
        o.insert("CertificateKeyPassword".into(), Value::Null);
    }
    o.insert("HttpHeaders".into(), json!(p.http_headers.keys().collect::<Vec<_>>()));
    o.insert("Pkcs11".into(), json!(p.pkcs11));
    o.insert("Timeout".into(), json!(p.timeout));
    Value::Object(o)
}

impl Archive {
    pub fn peers(&self) -> Result<Vec<Peer>> {
        Ok(self.node.reader().peers()?)
    }

    pub fn peer(&self, name: &str) -> Result<Peer> {
        self.node
            .reader()
            .peer(name)?
            .ok_or_else(|| ServiceError::UnknownPeer(name.to_owned()))
    }

    pub async fn put_peer(&self, peer: Peer) -> Result<()> {
        self.node.write(Command::PutPeer { peer }).await?;
        Ok(())
    }

    pub async fn delete_peer(&self, name: &str) -> Result<()> {
        let command = Command::DeletePeer {
            name: name.to_owned(),
        };
        match self.node.write(command).await? {
            CommandResponse::UnknownResource => Err(ServiceError::UnknownPeer(name.to_owned())),
            _ => Ok(()),
        }
    }

    /// Writes the configuration's `OrthancPeers` into the index (the
    /// configuration wins over run-time changes of the same names).
    pub async fn seed_peers(&self) -> Result<usize> {
        let mut count = 0;
        for peer in &self.config.orthanc_peers {
            if self.node.reader().peer(&peer.name)?.as_ref() != Some(peer) {
                self.put_peer(peer.clone()).await?;
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
    fn the_public_form_hides_passwords_and_keeps_user_properties() {
        let p = peer_from_json(
            "p",
            &json!({"Url": "http://h:1", "Username": "u", "Password": "secret",
                    "HttpHeaders": {"X-Token": "t"}, "Site": "north"}),
        )
        .unwrap();
        let shown = peer_to_json(&p);
        assert_eq!(
            shown,
            json!({"Url": "http://h:1/", "Username": "u", "Password": null,
                   "HttpHeaders": ["X-Token"], "Pkcs11": false, "Timeout": 0, "Site": "north"})
        );
        assert!(!shown.to_string().contains("secret"));
    }

    #[test]
    fn bad_definitions_are_refused() {
        for bad in [
            json!(3),
            json!(["http://a", "user"]),
            json!({"Username": "u"}),
            json!({"Url": "http://a", "Password": "p"}),
            json!({"Url": "http://a", "Timeout": "7"}),
            json!({"Url": "ftp://a"}),
        ] {
            assert!(
                matches!(peer_from_json("b", &bad), Err(ServiceError::BadPeer { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            peer_from_json("c", &json!({"Url": "https://a", "CertificateFile": "/nonexistent", "CertificateKeyFile": "/k"})),
            Err(ServiceError::MissingFile(_))
        ));
    }
}
