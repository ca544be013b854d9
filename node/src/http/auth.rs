//! Access control as Orthanc does it: `RemoteAccessAllowed: false` refuses
//! clients that are not on the loopback interface (403), and
//! `AuthenticationEnabled` requires HTTP Basic credentials from
//! `RegisteredUsers` on every route (401 with a `WWW-Authenticate` challenge).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::config::Config;
use crate::service::Archive;

/// Who is calling: the client's address and authenticated user name, for the
/// `RemoteIP` and `HttpUsername` metadata. Always present after [`guard`].
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: String,
    pub user: String,
    /// A call made in-process by a Lua script (`RestApiGet`...), not a client.
    pub internal: bool,
}

/// What [`guard`] does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Served, on behalf of this user (empty without authentication).
    Allow { user: String },
    /// 403: `RemoteAccessAllowed` is false and the client is not local.
    Forbidden,
    /// 401 with a `WWW-Authenticate` challenge.
    Unauthorized,
}

/// The access decision, as a pure function of the configuration, the peer
/// address (unknown peers are treated as remote) and the `Authorization` header.
pub fn decide(
    config: &Config,
    peer: Option<IpAddr>,
    authorization: Option<&HeaderValue>,
) -> Decision {
    if !config.remote_access_allowed && !peer.is_some_and(|p| p.is_loopback()) {
        return Decision::Forbidden;
    }
    if !config.authentication_enabled {
        return Decision::Allow {
            user: String::new(),
        };
    }
    match basic_credentials(authorization) {
        Some((name, password))
            if config
                .registered_users
                .get(&name)
                .is_some_and(|p| *p == password) =>
        {
            Decision::Allow { user: name }
        }
        _ => Decision::Unauthorized,
    }
}

pub async fn guard(State(archive): State<Archive>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let user = match decide(
        archive.config(),
        peer.map(|p| p.ip()),
        request.headers().get(header::AUTHORIZATION),
    ) {
        Decision::Allow { user } => user,
        Decision::Forbidden => return StatusCode::FORBIDDEN.into_response(),
        Decision::Unauthorized => {
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Orthanc Secure Area\""),
            );
            return response;
        }
    };
    let client = Client {
        ip: peer.map(|p| p.ip().to_string()).unwrap_or_default(),
        user,
        internal: false,
    };
    request.extensions_mut().insert(client);
    next.run(request).await
}

fn basic_credentials(value: Option<&HeaderValue>) -> Option<(String, String)> {
    let text = value?.to_str().ok()?;
    let encoded = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_credentials() {
        let v = HeaderValue::from_static("Basic YWxpY2U6c2VjcmV0");
        assert_eq!(
            basic_credentials(Some(&v)),
            Some(("alice".into(), "secret".into()))
        );
        assert_eq!(
            basic_credentials(Some(&HeaderValue::from_static("Bearer x"))),
            None
        );
        assert_eq!(basic_credentials(None), None);
    }

    fn config(remote: bool, auth: bool) -> Config {
        let mut c = Config::from_json_str("{}", &|_| None).unwrap();
        c.remote_access_allowed = remote;
        c.authentication_enabled = auth;
        c.registered_users.insert("alice".into(), "secret".into());
        c
    }

    const LOCAL: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    const LOCAL6: Option<IpAddr> = Some(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST));
    const REMOTE: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 20)));

    #[test]
    fn remote_clients_are_refused_unless_allowed() {
        let closed = config(false, false);
        assert_eq!(decide(&closed, REMOTE, None), Decision::Forbidden);
        assert_eq!(
            decide(&closed, None, None),
            Decision::Forbidden,
            "an unknown peer is not local"
        );
        assert_eq!(
            decide(&closed, LOCAL, None),
            Decision::Allow {
                user: String::new()
            }
        );
        assert_eq!(
            decide(&closed, LOCAL6, None),
            Decision::Allow {
                user: String::new()
            }
        );
        let open = config(true, false);
        assert_eq!(
            decide(&open, REMOTE, None),
            Decision::Allow {
                user: String::new()
            }
        );
    }

    #[test]
    fn credentials_are_checked_after_the_address() {
        let good = HeaderValue::from_static("Basic YWxpY2U6c2VjcmV0"); // alice:secret
        let bad = HeaderValue::from_static("Basic YWxpY2U6d3Jvbmc="); // alice:wrong
        let c = config(true, true);
        assert_eq!(
            decide(&c, REMOTE, Some(&good)),
            Decision::Allow {
                user: "alice".into()
            }
        );
        assert_eq!(decide(&c, REMOTE, Some(&bad)), Decision::Unauthorized);
        assert_eq!(decide(&c, REMOTE, None), Decision::Unauthorized);
        // A remote client is refused before its credentials are looked at.
        assert_eq!(
            decide(&config(false, true), REMOTE, Some(&good)),
            Decision::Forbidden
        );
        assert_eq!(
            decide(&config(false, true), LOCAL, Some(&good)),
            Decision::Allow {
                user: "alice".into()
            }
        );
    }
}
