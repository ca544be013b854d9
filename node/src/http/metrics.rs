//! `/tools/metrics` (GET/PUT whether metrics are collected) and
//! `/tools/metrics-prometheus` (Prometheus' text format, with Orthanc's
//! timestamps on gauges), over `service::metrics`; and the layer that times
//! every REST request.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiResult, OrthancCode};
use crate::service::metrics::Sample;
use crate::service::Archive;

/// Times the request (`orthanc_rest_api_*`, `isengard_rest_request_duration_ms`).
pub async fn timed(State(archive): State<Archive>, request: Request, next: Next) -> Response {
    let metrics = archive.metrics.clone();
    let _timer = metrics.rest_request();
    next.run(request).await
}

fn text(s: impl Into<String>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], s.into()).into_response()
}

pub async fn get_enabled(State(archive): State<Archive>) -> ApiResult<Response> {
    Ok(text(if archive.metrics_enabled()? { "1" } else { "0" }))
}

pub async fn put_enabled(State(archive): State<Archive>, body: Bytes) -> ApiResult<Response> {
    let enabled = match String::from_utf8_lossy(&body).trim().to_ascii_lowercase().as_str() {
        "1" | "true" => true,
        "0" | "false" => false,
        _ => {
            return Err(ApiError::with_details(
                OrthancCode::BadFileFormat,
                "Boolean value expected",
            ))
        }
    };
    archive.set_metrics_enabled(enabled).await?;
    Ok(text(""))
}

pub async fn prometheus(State(archive): State<Archive>) -> ApiResult<Response> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut out = String::new();
    for sample in archive.metrics_samples()? {
        match sample {
            Sample::Gauge(name, value) => out.push_str(&format!("{name} {value} {now}\n")),
            Sample::Histogram {
                name,
                buckets,
                count,
                sum,
            } => {
                out.push_str(&format!("# TYPE {name} histogram\n"));
                for (bound, n) in buckets {
                    out.push_str(&format!("{name}_bucket{{le=\"{bound}\"}} {n}\n"));
                }
                out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {count}\n"));
                out.push_str(&format!("{name}_sum {sum}\n{name}_count {count}\n"));
            }
        }
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
        .into_response())
}
