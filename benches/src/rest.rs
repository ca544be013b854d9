//! HTTP clients of the workloads: concurrent uploads (`POST /instances`),
//! downloads, `/tools/find`. Clients keep their connections alive, as a
//! modality gateway or a viewer would.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use serde_json::Value;

use crate::servers::Server;

/// Uploads every body with `clients` concurrent clients, client `i` talking
/// to node `i` of the server (round robin over a cluster's nodes). Returns
/// the wall time.
pub async fn upload_all(
    server: &Server,
    bodies: Arc<Vec<Bytes>>,
    clients: usize,
) -> anyhow::Result<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (url, http) = (server.url(client, "/instances"), reqwest::Client::new());
        let (bodies, next) = (bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return anyhow::Ok(());
                };
                post_instance(&http, &url, body.clone()).await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(start.elapsed())
}

async fn post_instance(http: &reqwest::Client, url: &str, body: Bytes) -> anyhow::Result<()> {
    let r = http
        .post(url)
        .header("content-type", "application/dicom")
        .body(body)
        .send()
        .await?;
    let status = r.status();
    if !status.is_success() {
        bail!(
            "POST {url}: HTTP {status}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Streams instances made by `make(i)` for `i in range` into the server
/// with `clients` concurrent uploaders, each instance built just before its
/// upload (a 100,000-instance archive never sits in memory).
pub async fn load<F>(
    server: &Server,
    range: std::ops::Range<usize>,
    clients: usize,
    make: F,
) -> anyhow::Result<Duration>
where
    F: Fn(usize) -> Vec<u8> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(range.start));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (url, http) = (server.url(client, "/instances"), reqwest::Client::new());
        let (next, make, end) = (next.clone(), make.clone(), range.end);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return anyhow::Ok(());
                }
                let make = make.clone();
                let body = tokio::task::spawn_blocking(move || make(i)).await?;
                post_instance(&http, &url, Bytes::from(body)).await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(start.elapsed())
}

/// `GET` of every url by `clients` concurrent clients; bytes received and
/// wall time.
pub async fn download_all(
    urls: Arc<Vec<String>>,
    clients: usize,
) -> anyhow::Result<(u64, Duration)> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (urls, next, http) = (urls.clone(), next.clone(), reqwest::Client::new());
        tasks.push(tokio::spawn(async move {
            let mut bytes = 0_u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(url) = urls.get(i) else {
                    return anyhow::Ok(bytes);
                };
                bytes += get_bytes(&http, url).await?;
            }
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok((total, start.elapsed()))
}

/// `GET url`, the body's length (read to the end).
pub async fn get_bytes(http: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let r = http.get(url).send().await?;
    let status = r.status();
    if !status.is_success() {
        bail!("GET {url}: HTTP {status}");
    }
    Ok(r.bytes().await?.len() as u64)
}

/// `GET url`, the whole body.
pub async fn get_body(http: &reqwest::Client, url: &str) -> anyhow::Result<Bytes> {
    let r = http.get(url).send().await?;
    let status = r.status();
    if !status.is_success() {
        bail!("GET {url}: HTTP {status}");
    }
    Ok(r.bytes().await?)
}

/// `POST /tools/find`: the number of answers.
pub async fn find(server: &Server, query: &Value) -> anyhow::Result<usize> {
    let send = || {
        server
            .http
            .post(server.url(0, "/tools/find"))
            .json(query)
            .send()
    };
    // A kept-alive connection the server closed while idle fails before any
    // answer: the query (read-only) is sent again, once, on a new connection.
    let r = match send().await {
        Err(e) if e.is_request() || e.is_connect() => send().await?,
        other => other?,
    };
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        bail!("POST /tools/find {query}: HTTP {status}: {text}");
    }
    let answer: Value = serde_json::from_str(&text).context("/tools/find answer")?;
    Ok(answer
        .as_array()
        .context("/tools/find answers an array")?
        .len())
}
