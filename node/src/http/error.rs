//! The one place where errors become HTTP answers: Orthanc's JSON error body
//! `{HttpError, HttpStatus, Message, Method, OrthancError, OrthancStatus, Uri,
//! Details}` with Orthanc's status codes.
//!
//! Handlers return [`ApiError`]; its response carries the error in an extension,
//! and the [`render_errors`] middleware fills in the method and URI.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::blob::BlobError;
use crate::dicom::modify::RewriteError;
use crate::dicom::DicomError;
use crate::index::IndexError;
use crate::service::attachments::AttachmentError;
use crate::service::find::FindError;
use crate::service::modify::ModifyError;
use crate::service::ServiceError;

/// Orthanc's error codes that this API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrthancCode {
    InternalError,
    NotImplemented,
    ParameterOutOfRange,
    BadParameterType,
    InexistentItem,
    BadRequest,
    NetworkProtocol,
    UriSyntax,
    InexistentFile,
    BadFileFormat,
    UnknownResource,
    FullStorage,
    CorruptedFile,
    InexistentTag,
    BadJson,
    DatabaseUnavailable,
    UnsupportedMediaType,
    /// Orthanc answers it with HTTP 500; Isengard with 400 (a client's error).
    UnknownDicomTag,
    /// A Lua error (`/tools/execute-script`).
    CannotExecuteLua,
    /// No route has this URI: Orthanc's bare 404, without a body.
    Unrouted,
    /// A bad or missing revision (`If-Match`), HTTP 409.
    Revision,
    /// What Orthanc refuses with a bare 403 (writing a system attachment).
    Forbidden,
}

impl OrthancCode {
    /// `(OrthancStatus, HTTP status, message)` as Orthanc 1.10 defines them.
    pub fn describe(self) -> (i32, StatusCode, &'static str) {
        use OrthancCode::*;
        match self {
            InternalError => (-1, StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
            NotImplemented => (2, StatusCode::NOT_IMPLEMENTED, "Not implemented yet"),
            ParameterOutOfRange => (3, StatusCode::BAD_REQUEST, "Parameter out of range"),
            BadParameterType => (5, StatusCode::BAD_REQUEST, "Bad type for a parameter"),
            InexistentItem => (7, StatusCode::NOT_FOUND, "Accessing an inexistent item"),
            BadRequest => (8, StatusCode::BAD_REQUEST, "Bad request"),
            NetworkProtocol => (
                9,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error in the network protocol",
            ),
            UriSyntax => (12, StatusCode::BAD_REQUEST, "Badly formatted URI"),
            InexistentFile => (13, StatusCode::NOT_FOUND, "Inexistent file"),
            BadFileFormat => (15, StatusCode::BAD_REQUEST, "Bad file format"),
            UnknownResource => (17, StatusCode::NOT_FOUND, "Unknown resource"),
            FullStorage => (
                19,
                StatusCode::INSUFFICIENT_STORAGE,
                "The file storage is full",
            ),
            CorruptedFile => (
                20,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Corrupted file (e.g. inconsistent MD5 hash)",
            ),
            InexistentTag => (21, StatusCode::NOT_FOUND, "Inexistent tag"),
            BadJson => (28, StatusCode::BAD_REQUEST, "Cannot parse a JSON document"),
            DatabaseUnavailable => (
                36,
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is currently not available (probably a transient situation)",
            ),
            UnknownDicomTag => (27, StatusCode::INTERNAL_SERVER_ERROR, "Unknown DICOM tag"),
            UnsupportedMediaType => (
                3000,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
            ),
            Unrouted => (0, StatusCode::NOT_FOUND, ""),
            Forbidden => (0, StatusCode::FORBIDDEN, ""),
            Revision => (
                43,
                StatusCode::CONFLICT,
                "A bad revision number was provided, which might indicate conflict between multiple writers",
            ),
            CannotExecuteLua => (
                2031,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot execute a Lua command",
            ),
        }
    }
}

/// An error answered by the REST API.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: OrthancCode,
    pub details: Option<String>,
    /// Overrides the code's HTTP status where Isengard deliberately differs.
    pub status: Option<StatusCode>,
}

impl ApiError {
    pub fn new(code: OrthancCode) -> Self {
        ApiError {
            code,
            details: None,
            status: None,
        }
    }

    pub fn with_details(code: OrthancCode, details: impl Into<String>) -> Self {
        ApiError {
            code,
            details: Some(details.into()),
            status: None,
        }
    }

    pub fn bad_request(details: impl Into<String>) -> Self {
        ApiError::with_details(OrthancCode::BadRequest, details)
    }

    pub fn unknown_resource() -> Self {
        ApiError::new(OrthancCode::UnknownResource)
    }

    /// The URI names no route (a catch-all route's segment is no name it
    /// knows): Orthanc's bare 404.
    pub fn unrouted() -> Self {
        ApiError::new(OrthancCode::Unrouted)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or(self.code.describe().1);
        let mut response = status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::BadDicom(d) => d.into(),
            ServiceError::UnknownResource(_) | ServiceError::WrongLevel { .. } => {
                ApiError::new(OrthancCode::UnknownResource)
            }
            ServiceError::UnknownMetadata(name) | ServiceError::UnknownAttachment(name) => {
                ApiError::with_details(OrthancCode::InexistentItem, name)
            }
            ServiceError::Index(e) => e.into(),
            ServiceError::Blob(e) => e.into(),
            ServiceError::UnknownModality(name) => ApiError::with_details(
                OrthancCode::InexistentItem,
                format!("No modality with symbolic name: {name}"),
            ),
            ServiceError::UnknownPeer(name) => ApiError::with_details(
                OrthancCode::InexistentItem,
                format!("Unknown Orthanc peer: {name}"),
            ),
            ServiceError::BadPeer { reason, .. } => {
                ApiError::with_details(OrthancCode::BadFileFormat, reason)
            }
            ServiceError::MissingFile(what) => {
                ApiError::with_details(OrthancCode::InexistentFile, what)
            }
            ServiceError::BadSetting(reason) => {
                ApiError::with_details(OrthancCode::ParameterOutOfRange, reason)
            }
            ServiceError::BadQuery(reason) => {
                ApiError::with_details(OrthancCode::BadFileFormat, reason)
            }
            ServiceError::BadLevel(level) => ApiError::with_details(
                OrthancCode::ParameterOutOfRange,
                format!("unknown query level {level}"),
            ),
            ServiceError::UnknownQuery(_) => ApiError::new(OrthancCode::UnknownResource),
            ServiceError::NoSuchAnswer { .. } => {
                ApiError::with_details(OrthancCode::ParameterOutOfRange, e.to_string())
            }
            ServiceError::BadModality { .. } => {
                ApiError::with_details(OrthancCode::BadFileFormat, e.to_string())
            }
            ServiceError::NotEnoughCopies { .. } | ServiceError::BlobUnavailable { .. } => {
                ApiError::with_details(OrthancCode::DatabaseUnavailable, e.to_string())
            }
            // Orthanc 1.10 answers 200 with `"Status": "FilteredOut"`; Isengard
            // makes the refusal an error (docs/lua.md).
            ServiceError::FilteredOut(_) => ApiError {
                code: OrthancCode::BadRequest,
                details: Some(e.to_string()),
                status: Some(StatusCode::FORBIDDEN),
            },
            ServiceError::Modify(e) => e.into(),
            ServiceError::Find(e) => e.into(),
            ServiceError::Internal(_) => {
                ApiError::with_details(OrthancCode::InternalError, e.to_string())
            }
            ServiceError::Script { .. } => {
                ApiError::with_details(OrthancCode::CannotExecuteLua, e.to_string())
            }
            // Orthanc's "Error in the network protocol" (500).
            ServiceError::Scu { .. } | ServiceError::BadAnswer(_) => {
                ApiError::with_details(OrthancCode::NetworkProtocol, e.to_string())
            }
            ServiceError::Attachment(a) => match a {
                AttachmentError::Forbidden(_) => ApiError::new(OrthancCode::Forbidden),
                AttachmentError::Revision(None) => ApiError::new(OrthancCode::Revision),
                AttachmentError::Revision(Some(d)) => {
                    ApiError::with_details(OrthancCode::Revision, d)
                }
                AttachmentError::Corrupt(_) => {
                    ApiError::with_details(OrthancCode::CorruptedFile, a.to_string())
                }
            },
            ServiceError::BlobBusy(id) => ApiError::with_details(
                OrthancCode::DatabaseUnavailable,
                format!("the file of instance {id} is being garbage-collected; retry"),
            ),
        }
    }
}

impl From<ModifyError> for ApiError {
    fn from(e: ModifyError) -> Self {
        let details = e.to_string();
        match e {
            ModifyError::BadBody(None) => ApiError::new(OrthancCode::BadFileFormat),
            ModifyError::BadBody(Some(_)) => {
                ApiError::with_details(OrthancCode::BadFileFormat, details)
            }
            ModifyError::BadRequest(None) => ApiError::new(OrthancCode::BadRequest),
            ModifyError::BadRequest(Some(_))
            | ModifyError::Asynchronous
            | ModifyError::Unsupported(_)
            | ModifyError::AlreadyStored(_) => ApiError::bad_request(details),
            ModifyError::OutOfRange(_) => {
                ApiError::with_details(OrthancCode::ParameterOutOfRange, details)
            }
            ModifyError::UnknownTag(_) => ApiError {
                code: OrthancCode::UnknownDicomTag,
                details: Some(details),
                status: Some(StatusCode::BAD_REQUEST),
            },
            ModifyError::Rewrite(RewriteError::BadType(_)) => {
                ApiError::with_details(OrthancCode::BadParameterType, details)
            }
            ModifyError::Rewrite(RewriteError::OutOfRange { .. } | RewriteError::Read(_)) => {
                ApiError::with_details(OrthancCode::BadFileFormat, details)
            }
            ModifyError::Rewrite(RewriteError::Write(_)) => {
                ApiError::with_details(OrthancCode::InternalError, details)
            }
        }
    }
}

impl From<FindError> for ApiError {
    fn from(e: FindError) -> Self {
        let details = e.to_string();
        match e {
            FindError::UnknownTag(_) => {
                ApiError::with_details(OrthancCode::UnknownResource, details)
            }
            FindError::WildcardsNotAllowed(_) => {
                ApiError::with_details(OrthancCode::ParameterOutOfRange, details)
            }
        }
    }
}

impl From<DicomError> for ApiError {
    fn from(e: DicomError) -> Self {
        match &e {
            DicomError::BadFileFormat { .. } => {
                ApiError::with_details(OrthancCode::BadFileFormat, e.to_string())
            }
            // Orthanc answers 404 "Inexistent tag" here; a missing UID is the
            // client's bad file, so Isengard answers 400 and names the tag.
            DicomError::MissingTag { name, tag } => ApiError {
                code: OrthancCode::InexistentTag,
                details: Some(format!("The DICOM file has no {name} ({tag})")),
                status: Some(StatusCode::BAD_REQUEST),
            },
            DicomError::InexistentTag => ApiError::new(OrthancCode::InexistentTag),
        }
    }
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::NoLeader | IndexError::ShuttingDown => {
                ApiError::with_details(OrthancCode::DatabaseUnavailable, e.to_string())
            }
            IndexError::Open(_) | IndexError::Storage(_) | IndexError::Corrupt(_) => {
                ApiError::with_details(OrthancCode::InternalError, e.to_string())
            }
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        let code = match &e {
            BlobError::NotFound(_) | BlobError::Corrupt { .. } => OrthancCode::CorruptedFile,
            BlobError::Io(io) if io.raw_os_error() == Some(28) => OrthancCode::FullStorage,
            _ => OrthancCode::InternalError,
        };
        ApiError::with_details(code, e.to_string())
    }
}

/// Renders every [`ApiError`] response as Orthanc's JSON error body.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let method: Method = request.method().clone();
    let uri = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let Some(error) = response.extensions_mut().remove::<ApiError>() else {
        return response;
    };
    match error.code {
        OrthancCode::Unrouted => return StatusCode::NOT_FOUND.into_response(),
        OrthancCode::Forbidden => return StatusCode::FORBIDDEN.into_response(),
        _ => {}
    }
    let (orthanc_status, default_status, message) = error.code.describe();
    let status = error.status.unwrap_or(default_status);
    let mut body = json!({
        "HttpError": status.canonical_reason().unwrap_or(""),
        "HttpStatus": status.as_u16(),
        "Message": message,
        "Method": method.as_str(),
        "OrthancError": message,
        "OrthancStatus": orthanc_status,
        "Uri": uri,
    });
    if let Some(details) = error.details {
        body["Details"] = details.into();
    }
    if status.is_server_error() {
        tracing::warn!(%method, %uri, status = status.as_u16(), "request failed");
    }
    let mut out = Response::new(Body::from(
        serde_json::to_vec_pretty(&body).unwrap_or_default(),
    ));
    *out.status_mut() = status;
    // Headers the handler set stay (Orthanc keeps an attachment's ETag on a 400).
    for (name, value) in response.headers() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    out
}

pub type ApiResult<T> = Result<T, ApiError>;
