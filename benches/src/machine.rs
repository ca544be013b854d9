//! The machine: what it is, and the bandwidths that bound every workload,
//! measured in the same run as the servers:
//! - sequential disk write (`dd ... conv=fdatasync`);
//! - disk write in instance-sized synchronous blocks (`dd oflag=dsync`);
//! - the ingest files copied one by one, each made durable (fsync of the file
//!   and of its folder): the least a durable archive must do per instance;
//! - loopback TCP (a 'cat' through a socket).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::plan::Plan;
use crate::report::num;

#[derive(Debug, Clone, Default)]
pub struct Bandwidth {
    /// MB/s (10^6 bytes per second).
    pub disk_sequential: f64,
    pub disk_sequential_bytes: u64,
    pub disk_dsync: f64,
    pub dsync_block: u64,
    pub files_durable: f64,
    pub files_per_s: f64,
    pub file_size: u64,
    pub loopback: f64,
}

impl Bandwidth {
    pub fn lines(&self) -> Vec<(String, String)> {
        vec![
            (
                format!("Disk, sequential write (`dd bs=1M count={} conv=fdatasync`)", self.disk_sequential_bytes >> 20),
                format!("{} MB/s", num(self.disk_sequential)),
            ),
            (
                format!("Disk, synchronous {} KiB blocks (`dd oflag=dsync`)", self.dsync_block >> 10),
                format!("{} MB/s", num(self.disk_dsync)),
            ),
            (
                format!("Disk, the ingest files ({} KiB) copied one by one, fsync of file and folder each", self.file_size >> 10),
                format!("{} MB/s, {} files/s", num(self.files_durable), num(self.files_per_s)),
            ),
            ("Loopback TCP, one connection".into(), format!("{} MB/s", num(self.loopback))),
        ]
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// CPU, cores, memory, kernel, file system of the work directory.
pub fn describe(work: &Path) -> Vec<(String, String)> {
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|r| r.trim().to_owned()))
        .and_then(|kb| kb.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1048576.0))
        .unwrap_or_default();
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| {
            l.strip_prefix("PRETTY_NAME=")
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_default();
    vec![
        ("CPU".into(), format!("{model}, {cores} logical cores")),
        ("Memory".into(), mem),
        ("System".into(), format!("{os}, Linux {kernel}")),
        ("Work directory file system".into(), mount_of(work)),
    ]
}

/// The device, type and options of the mount holding `path`.
fn mount_of(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let mut best: Option<(usize, String)> = None;
    for line in read("/proc/mounts").lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || !path.starts_with(f[1]) {
            continue;
        }
        if best.as_ref().is_none_or(|(len, _)| f[1].len() > *len) {
            best = Some((
                f[1].len(),
                format!("{} on {} ({}, {})", f[0], f[1], f[2], f[3]),
            ));
        }
    }
    best.map(|(_, m)| m).unwrap_or_else(|| "unknown".into())
}

pub async fn bandwidth(plan: &Plan, work: &Path, files: &[PathBuf]) -> anyhow::Result<Bandwidth> {
    let file_size = files
        .first()
        .map(|f| std::fs::metadata(f).map(|m| m.len()))
        .transpose()?
        .unwrap_or(0);
    let mut out = Bandwidth {
        disk_sequential_bytes: plan.bandwidth_bytes,
        file_size,
        ..Default::default()
    };
    let target = work.join("dd.bin");
    let count = (plan.bandwidth_bytes >> 20).to_string();
    out.disk_sequential = dd(&[
        "if=/dev/zero",
        &format!("of={}", target.display()),
        "bs=1M",
        &format!("count={count}"),
        "conv=fdatasync",
    ])
    .await?;
    let block = file_size.clamp(4096, 1 << 20) & !4095;
    out.dsync_block = block;
    let blocks = (plan.bandwidth_bytes / 8 / block).max(16);
    out.disk_dsync = dd(&[
        "if=/dev/zero",
        &format!("of={}", target.display()),
        &format!("bs={block}"),
        &format!("count={blocks}"),
        "oflag=dsync",
    ])
    .await?;
    std::fs::remove_file(&target)?;
    let copy_dir = work.join("durable-copy");
    let files = files.to_vec();
    let (bytes, elapsed) =
        tokio::task::spawn_blocking(move || durable_copy(&files, &copy_dir)).await??;
    out.files_durable = bytes as f64 / elapsed.as_secs_f64() / 1e6;
    out.files_per_s = (bytes / file_size.max(1)) as f64 / elapsed.as_secs_f64();
    out.loopback = loopback(plan.bandwidth_bytes).await?;
    Ok(out)
}

/// Runs dd; its MB/s, from the bytes and seconds it reports.
async fn dd(args: &[&str]) -> anyhow::Result<f64> {
    let out = tokio::process::Command::new("dd")
        .args(args)
        .output()
        .await
        .context("running dd")?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("dd {args:?} failed: {text}");
    }
    // "536870912 bytes (537 MB, 512 MiB) copied, 1.23 s, 436 MB/s"
    let line = text
        .lines()
        .find(|l| l.contains(" copied, "))
        .with_context(|| format!("dd output: {text}"))?;
    let bytes: f64 = line
        .split_whitespace()
        .next()
        .and_then(|b| b.parse().ok())
        .context("dd byte count")?;
    let seconds: f64 = line
        .split(" copied, ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|s| s.replace(',', ".").parse().ok())
        .context("dd seconds")?;
    Ok(bytes / seconds / 1e6)
}

/// Copies every file into `dir` (created), each durable before the next:
/// write, fsync the file, fsync the folder. Bytes copied and time taken.
fn durable_copy(files: &[PathBuf], dir: &Path) -> anyhow::Result<(u64, Duration)> {
    std::fs::create_dir_all(dir)?;
    let contents = files
        .iter()
        .map(std::fs::read)
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let mut bytes = 0;
    for (i, data) in contents.iter().enumerate() {
        let path = dir.join(format!("{i}.dcm"));
        let mut file = std::fs::File::create(&path)?;
        file.write_all(data)?;
        file.sync_all()?;
        std::fs::File::open(dir)?.sync_all()?;
        bytes += data.len() as u64;
    }
    let elapsed = start.elapsed();
    std::fs::remove_dir_all(dir)?;
    Ok((bytes, elapsed))
}

/// MB/s of `bytes` sent through one loopback TCP connection.
async fn loopback(bytes: u64) -> anyhow::Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let reader = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        let mut buf = vec![0_u8; 1 << 20];
        let mut total = 0_u64;
        loop {
            let n = socket.read(&mut buf).await?;
            if n == 0 {
                return std::io::Result::Ok(total);
            }
            total += n as u64;
        }
    });
    let start = Instant::now();
    let mut socket = tokio::net::TcpStream::connect(addr).await?;
    let chunk = vec![0x5a_u8; 1 << 20];
    let mut sent = 0;
    while sent < bytes {
        socket.write_all(&chunk).await?;
        sent += chunk.len() as u64;
    }
    socket.shutdown().await?;
    let received = reader.await??;
    Ok(received as f64 / start.elapsed().as_secs_f64() / 1e6)
}
