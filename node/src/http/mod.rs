//! The Orthanc REST API over axum: one router, resource families in their own
//! files, errors rendered as Orthanc JSON by [`error::render_errors`] only.

pub mod archive;
pub mod attachments;
pub mod auth;
pub mod cluster;
pub mod content;
pub mod error;
pub mod find;
pub mod instances;
pub mod metadata;
pub mod metrics;
pub mod modalities;
pub mod modalities_legacy;
pub mod modify;
pub mod split_merge;
pub mod peers;
pub mod queries;
pub mod resources;
pub mod scripting;
pub mod settings;
pub mod system;
pub mod tags;
pub mod tools;
pub mod xml;
pub mod webdav;
pub mod upload;

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, delete, get, post};
use axum::Router;

use crate::service::Archive;

/// Largest request body accepted (a ZIP of a whole study).
const MAX_BODY: usize = 4 * 1024 * 1024 * 1024;

/// The REST API as clients reach it: access control, then the Lua
/// `IncomingHttpRequestFilter`, then the routes; answers compressed (gzip or
/// deflate, as the client accepts) when `HttpCompressionEnabled`.
pub fn router(archive: Archive) -> Router {
    let compression = archive.config().http_compression_enabled;
    let router = routes()
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            archive.clone(),
            scripting::filter,
        ))
        .layer(axum::middleware::from_fn_with_state(
            archive.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn(error::render_errors))
        .layer(axum::middleware::from_fn(xml::negotiate))
        .layer(axum::middleware::from_fn_with_state(
            archive.clone(),
            metrics::timed,
        ))
        .with_state(archive);
    if compression {
        // ZIP archives are compressed already.
        use tower_http::compression::Predicate;
        let predicate = tower_http::compression::predicate::DefaultPredicate::new().and(
            tower_http::compression::predicate::NotForContentType::const_new("application/zip"),
        );
        router.layer(
            tower_http::compression::CompressionLayer::new()
                .no_br()
                .no_zstd()
                .compress_when(predicate),
        )
    } else {
        router
    }
}

/// What a listener serves.
pub type Service = tower_http::normalize_path::NormalizePath<
    tower::util::MapRequest<Router, fn(axum::extract::Request) -> axum::extract::Request>,
>;

/// The service a listener serves: [`router`] behind Orthanc's indifference
/// to a trailing `/` (`GET /studies/` lists the studies) and to empty path
/// segments (`/attachments/dicom//size`), and its method overrides
/// ([`override_method`]).
pub fn service(archive: Archive) -> Service {
    let prepared = tower::util::MapRequest::new(
        router(archive),
        prepare as fn(axum::extract::Request) -> axum::extract::Request,
    );
    tower_http::normalize_path::NormalizePath::trim_trailing_slash(prepared)
}

fn prepare(request: axum::extract::Request) -> axum::extract::Request {
    override_method(collapse_slashes(request))
}

/// `a//b` is `a/b`, as Orthanc splits URIs ignoring empty components.
fn collapse_slashes(mut request: axum::extract::Request) -> axum::extract::Request {
    let path = request.uri().path();
    if !path.contains("//") {
        return request;
    }
    let mut collapsed = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    let with_query = match request.uri().query() {
        Some(q) => format!("{collapsed}?{q}"),
        None => collapsed,
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(pq) = with_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Orthanc's emulated methods, for clients that can only send GET and POST:
/// `GET ...?_method=PUT|DELETE|POST` (Ruby on Rails) and a POST with
/// `X-HTTP-Method-Override: PUT|DELETE|GET` (Google).
pub fn override_method(mut request: axum::extract::Request) -> axum::extract::Request {
    use axum::http::Method;
    let wanted = match *request.method() {
        Method::GET => request.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("_method="))
                .map(str::to_ascii_uppercase)
        }),
        Method::POST => request
            .headers()
            .get("x-http-method-override")
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_uppercase),
        _ => None,
    };
    let method = match wanted.as_deref() {
        Some("PUT") => Method::PUT,
        Some("DELETE") => Method::DELETE,
        Some("POST") if request.method() == Method::GET => Method::POST,
        Some("GET") if request.method() == Method::POST => Method::GET,
        _ => return request,
    };
    *request.method_mut() = method;
    request
}

/// The same routes for calls made in-process by Lua scripts (`RestApiGet`...):
/// no access control and no `IncomingHttpRequestFilter`, as in Orthanc (and so
/// no call back into the Lua thread that is making the request).
pub fn internal_router(archive: Archive) -> Router {
    routes()
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(scripting::internal_client))
        .layer(axum::middleware::from_fn(error::render_errors))
        .with_state(archive)
}

fn routes() -> Router<Archive> {
    Router::new()
        .route("/system", get(system::system))
        .route("/tools/execute-script", post(scripting::execute))
        .route("/cluster", get(cluster::status))
        .route("/cluster/members", get(cluster::members).post(cluster::add))
        .route("/cluster/members/{id}", delete(cluster::remove))
        .route("/statistics", get(system::statistics))
        .route(
            "/changes",
            get(system::changes).delete(system::clear_changes),
        )
        .route(
            "/exports",
            get(system::exports).delete(system::clear_exports),
        )
        .route("/tools/now", get(system::now))
        .route("/tools/now-local", get(system::now_local))
        .route(
            "/tools/log-level",
            get(settings::get_log_level).put(settings::put_log_level),
        )
        .route(
            "/tools/default-encoding",
            get(settings::get_default_encoding).put(settings::put_default_encoding),
        )
        .route(
            "/tools/accepted-transfer-syntaxes",
            get(settings::get_accepted_transfer_syntaxes)
                .put(settings::put_accepted_transfer_syntaxes),
        )
        .route(
            "/tools/unknown-sop-class-accepted",
            get(settings::get_unknown_sop_class_accepted)
                .put(settings::put_unknown_sop_class_accepted),
        )
        .route(
            "/tools/{setting}",
            get(settings::get_category_level).put(settings::put_category_level),
        )
        .route("/tools", get(system::tools))
        .route("/tools/shutdown", post(system::shutdown))
        .route("/tools/reset", post(system::reset))
        .route(
            "/tools/metrics",
            get(metrics::get_enabled).put(metrics::put_enabled),
        )
        .route("/tools/metrics-prometheus", get(metrics::prometheus))
        .route("/peers", get(peers::list))
        .route(
            "/peers/{name}",
            get(peers::operations).put(peers::put).delete(peers::delete),
        )
        .route("/peers/{name}/configuration", get(peers::configuration))
        .route("/tools/dicom-echo", post(modalities::echo_unnamed))
        .route("/tools/generate-uid", get(tools::generate_uid))
        .route("/tools/dicom-conformance", get(tools::dicom_conformance))
        .route("/tools/invalidate-tags", post(tools::invalidate_tags))
        .route("/tools/bulk-content", post(tools::bulk_content))
        .route("/tools/bulk-delete", post(tools::bulk_delete))
        .route("/plugins", get(tools::plugins))
        .route("/plugins/explorer.js", get(tools::explorer_js))
        .route("/plugins/{id}", get(tools::plugin))
        .route(webdav::ROOT, any(webdav::handle))
        .route("/webdav/{*path}", any(webdav::handle))
        .route("/tools/find", post(find::find))
        .route("/tools/lookup", post(find::lookup))
        .route("/tools/create-archive", post(archive::create))
        .route("/tools/bulk-modify", post(modify::bulk_modify))
        .route("/tools/bulk-anonymize", post(modify::bulk_anonymize))
        .route("/tools/reconstruct", post(split_merge::reconstruct_all))
        .route("/studies/{id}/split", post(split_merge::split))
        .route("/studies/{id}/merge", post(split_merge::merge))
        .route("/tools/create-media", post(archive::create_media))
        .route(
            "/tools/create-media-extended",
            post(archive::create_media_extended),
        )
        .route("/modalities", get(modalities::list))
        .route(
            "/modalities/{name}",
            get(modalities::operations)
                .put(modalities::put)
                .delete(modalities::delete),
        )
        .route(
            "/modalities/{name}/configuration",
            get(modalities::configuration),
        )
        .route("/modalities/{name}/echo", post(modalities::echo))
        .route("/modalities/{name}/store", post(modalities::store))
        .route("/modalities/{name}/move", post(modalities::move_))
        .route("/modalities/{name}/query", post(modalities::query))
        .route(
            "/modalities/{name}/find-patient",
            post(modalities_legacy::find_patient),
        )
        .route(
            "/modalities/{name}/find-study",
            post(modalities_legacy::find_study),
        )
        .route(
            "/modalities/{name}/find-series",
            post(modalities_legacy::find_series),
        )
        .route(
            "/modalities/{name}/find-instance",
            post(modalities_legacy::find_instance),
        )
        .route(
            "/modalities/{name}/find",
            post(modalities_legacy::find_tree),
        )
        .route(
            "/modalities/{name}/find-worklist",
            post(modalities::not_implemented),
        )
        .route(
            "/modalities/{name}/storage-commitment",
            post(modalities::not_implemented),
        )
        .route(
            "/modalities/{name}/store-straight",
            post(modalities::store_straight),
        )
        .route("/queries", get(queries::list))
        .route(
            "/queries/{id}",
            get(queries::operations).delete(queries::delete),
        )
        .route("/queries/{id}/answers", get(queries::answers))
        .route("/queries/{id}/answers/{index}", get(queries::answer))
        .route(
            "/queries/{id}/answers/{index}/content",
            get(queries::content),
        )
        .route(
            "/queries/{id}/answers/{index}/retrieve",
            post(queries::retrieve_one),
        )
        .route(
            "/queries/{id}/answers/{index}/{children}",
            post(queries::query_children),
        )
        .route("/queries/{id}/retrieve", post(queries::retrieve_all))
        .route("/queries/{id}/level", get(queries::level))
        .route("/queries/{id}/modality", get(queries::modality))
        .route("/queries/{id}/query", get(queries::query))
        .route(
            "/instances",
            post(instances::upload).get(resources::list_instances),
        )
        .route("/instances/{id}/file", get(content::file))
        .route("/instances/{id}/tags", get(content::tags))
        .route(
            "/instances/{id}/simplified-tags",
            get(content::simplified_tags),
        )
        .route("/instances/{id}/header", get(content::header))
        .route("/instances/{id}/content", get(content::content_root))
        .route("/instances/{id}/content/{*path}", get(content::content))
        .route("/{collection}", get(resources::list))
        .route(
            "/{collection}/{id}",
            get(resources::get).delete(resources::delete),
        )
        .route("/{collection}/{id}/statistics", get(resources::statistics))
        .route("/{collection}/{id}/modify", post(modify::modify))
        .route("/{collection}/{id}/anonymize", post(modify::anonymize))
        .route(
            "/{collection}/{id}/reconstruct",
            post(split_merge::reconstruct),
        )
        .route(
            "/{collection}/{id}/archive",
            get(archive::get).post(archive::post),
        )
        .route(
            "/{collection}/{id}/media",
            get(archive::get_media).post(archive::post_media),
        )
        .route("/{collection}/{id}/metadata", get(metadata::list))
        .route(
            "/{collection}/{id}/metadata/{name}",
            get(metadata::get)
                .put(metadata::put)
                .delete(metadata::delete),
        )
        .route("/{collection}/{id}/attachments", get(attachments::list))
        .route(
            "/{collection}/{id}/attachments/{name}",
            get(attachments::info)
                .put(attachments::put)
                .delete(attachments::delete),
        )
        .route(
            "/{collection}/{id}/attachments/{name}/verify-md5",
            post(attachments::verify_md5),
        )
        .route(
            "/{collection}/{id}/attachments/{name}/compress",
            post(attachments::compress),
        )
        .route(
            "/{collection}/{id}/attachments/{name}/uncompress",
            post(attachments::uncompress),
        )
        .route(
            "/{collection}/{id}/attachments/{name}/{op}",
            get(attachments::operation),
        )
        .route("/{collection}/{id}/shared-tags", get(tags::shared_tags))
        .route("/{collection}/{id}/instances-tags", get(tags::instances_tags))
        .route("/{collection}/{id}/module", get(tags::module))
        .route("/studies/{id}/module-patient", get(tags::module_patient))
        .route("/series/{id}/ordered-slices", get(tags::ordered_slices))
        .route("/{collection}/{id}/{relative}", get(resources::relative))
        // Orthanc answers an unknown URI with a bare 404 (no body).
        .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
}
