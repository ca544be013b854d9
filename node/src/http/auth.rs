//! Access control as Orthanc does it: `RemoteAccessAllowed: false` refuses
//! clients that are not on the loopback interface (403), and
//! `AuthenticationEnabled` requires HTTP Basic credentials from
//! `RegisteredUsers` on every route (401 with a `WWW-Authenticate` challenge).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::service::Archive;

/// Who is calling: the client's address and authenticated user name, for the
/// `RemoteIP` and `HttpUsername` metadata. Always present after [`guard`].
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: String,
    pub user: String,
}

pub async fn guard(State(archive): State<Archive>, mut request: Request, next: Next) -> Response {
    let config = archive.config();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    if !config.remote_access_allowed && !peer.is_some_and(|p| p.ip().is_loopback()) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut client = Client { ip: peer.map(|p| p.ip().to_string()).unwrap_or_default(), user: String::new() };
    if config.authentication_enabled {
        match basic_credentials(request.headers().get(header::AUTHORIZATION)) {
            Some((name, password))
                if config.registered_users.get(&name).is_some_and(|p| *p == password) =>
            {
                client.user = name;
            }
            _ => {
                let mut response = StatusCode::UNAUTHORIZED.into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Orthanc Secure Area\""),
                );
                return response;
            }
        }
    }
    request.extensions_mut().insert(client);
    next.run(request).await
}

fn basic_credentials(value: Option<&HeaderValue>) -> Option<(String, String)> {
    let text = value?.to_str().ok()?;
    let encoded = text.strip_prefix("Basic ").or_else(|| text.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
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
        assert_eq!(basic_credentials(Some(&v)), Some(("alice".into(), "secret".into())));
        assert_eq!(basic_credentials(Some(&HeaderValue::from_static("Bearer x"))), None);
        assert_eq!(basic_credentials(None), None);
    }
}
