//! Command-line clients of a running node's REST API (the `isengard cluster
//! ...` subcommands). `main.rs` only parses the arguments and calls
//! [`cluster::run`].

pub mod cluster;

use std::path::Path;

use crate::config::Config;

/// Why a command-line client failed; printed by `main.rs`, exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("configuration error: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot reach {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{method} {url} answered HTTP {status}: {message}")]
    Api {
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error("unexpected answer from {url}: {reason}")]
    Answer { url: String, reason: String },
}

impl CliError {
    /// A transport failure, with the causes that say why (refused, timed out...).
    pub fn connect(url: &str, error: &reqwest::Error) -> CliError {
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        CliError::Connect {
            url: url.to_owned(),
            reason,
        }
    }
}

/// Where and as whom to call the REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http://host:port`, without a trailing `/`.
    pub url: String,
    pub credentials: Option<(String, String)>,
}

impl Target {
    /// Resolves the target: `url` (`--url`), else the node configured by
    /// `config` (its `HttpBind`, a wildcard meaning loopback, and `HttpPort`),
    /// else `http://127.0.0.1:8042`. Credentials: `user`/`password`, else the
    /// first of the configuration's `RegisteredUsers` when it enables
    /// authentication.
    pub fn resolve(
        url: Option<&str>,
        config: Option<&Path>,
        user: Option<&str>,
        password: Option<&str>,
    ) -> Result<Target, CliError> {
        let config = match config {
            Some(path) => Some(Config::load(Some(path))?),
            None => None,
        };
        let url = match (url, &config) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, Some(config)) => {
                let host = match config.http_bind {
                    ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
                    ip if ip.is_unspecified() => "[::1]".to_owned(),
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                };
                format!("http://{host}:{}", config.http_port)
            }
            (None, None) => "http://127.0.0.1:8042".to_owned(),
        };
        let credentials = match (user, password, &config) {
            (Some(user), password, _) => {
                Some((user.to_owned(), password.unwrap_or_default().to_owned()))
            }
            (None, _, Some(config)) if config.authentication_enabled => config
                .registered_users
                .iter()
                .next()
                .map(|(u, p)| (u.clone(), p.clone())),
            _ => None,
        };
        Ok(Target { url, credentials })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_from_flags_config_or_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(
            &path,
            r#"{ "HttpPort": 9042, "AuthenticationEnabled": true, "RegisteredUsers": { "alice": "pw" } }"#,
        )
        .unwrap();
        let t = Target::resolve(None, Some(&path), None, None).unwrap();
        assert_eq!(t.url, "http://127.0.0.1:9042");
        assert_eq!(t.credentials, Some(("alice".into(), "pw".into())));
        let t = Target::resolve(Some("http://h:1/"), Some(&path), Some("bob"), Some("x")).unwrap();
        assert_eq!(t.url, "http://h:1");
        assert_eq!(t.credentials, Some(("bob".into(), "x".into())));
        let t = Target::resolve(None, None, None, None).unwrap();
        assert_eq!(
            t,
            Target {
                url: "http://127.0.0.1:8042".into(),
                credentials: None
            }
        );
        std::fs::write(
            &path,
            r#"{ "HttpPort": 9043, "Isengard": { "HttpBind": "10.1.2.3" } }"#,
        )
        .unwrap();
        assert_eq!(
            Target::resolve(None, Some(&path), None, None).unwrap().url,
            "http://10.1.2.3:9043"
        );
    }
}
