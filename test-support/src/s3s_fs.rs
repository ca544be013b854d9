//! An `s3s-fs` server: the S3 protocol over a temporary folder, each
//! subfolder a bucket, on a loopback port it chose (`--port 0`; it logs the
//! address). `scripts/install-deps.sh` installs the binary.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::Killed;

/// The access key the server accepts.
pub const S3_ACCESS_KEY: &str = "isengard-access";
/// The secret key the server accepts.
pub const S3_SECRET_KEY: &str = "isengard-secret-key";
/// The region clients sign requests for (`s3s-fs` accepts any).
pub const S3_REGION: &str = "us-east-1";

/// How long the server may take to listen.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A running `s3s-fs` with one bucket; killed on drop, its folder deleted.
pub struct S3sFs {
    _process: Killed,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The one bucket.
    pub bucket: String,
    root: TempDir,
}

/// The `s3s-fs` binary: `$S3S_FS`, else on the PATH, else in cargo's bin folder.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("S3S_FS") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("s3s-fs"))
        .find(|p| p.is_file());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let in_cargo_bin = cargo_home
        .map(|h| h.join("bin/s3s-fs"))
        .filter(|p| p.is_file());
    on_path.or(in_cargo_bin).unwrap_or_else(|| {
        panic!(
            "s3s-fs is not installed: run scripts/install-deps.sh \
             (or `cargo install --locked s3s-fs@0.14.1 --features binary`), or set S3S_FS to the binary"
        )
    })
}

impl S3sFs {
    /// Starts `s3s-fs` with the bucket `bucket` (keys [`S3_ACCESS_KEY`],
    /// [`S3_SECRET_KEY`]) and waits until it accepts connections.
    pub fn start(bucket: &str) -> S3sFs {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join(bucket)).expect("bucket folder");
        let binary = binary();
        let mut child = Command::new(&binary)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--access-key",
                S3_ACCESS_KEY,
                "--secret-key",
                S3_SECRET_KEY,
            ])
            .arg(root.path())
            .env("RUST_LOG", "s3s_fs=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        // It logs "server is running at http://127.0.0.1:PORT" once bound; the
        // reader keeps draining its output so that it never blocks.
        let stdout = child.stdout.take().expect("piped stdout");
        let mut process = Killed(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, url)) = line.split_once("server is running at ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let deadline = Instant::now() + START_DEADLINE;
        let endpoint = loop {
            if let Ok(url) = rx.recv_timeout(Duration::from_millis(100)) {
                break url;
            }
            if let Some(status) = process.0.try_wait().expect("poll s3s-fs") {
                panic!("s3s-fs exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "s3s-fs did not report its address within {START_DEADLINE:?}"
            );
        };
        let addr: SocketAddr = endpoint
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|e| panic!("s3s-fs reported {endpoint}: {e}"));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "s3s-fs does not accept connections on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        S3sFs {
            _process: process,
            endpoint,
            bucket: bucket.to_owned(),
            root,
        }
    }

    /// The folder behind the bucket: object `a/b` is the file `a/b` in it.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(&self.bucket)
    }
}
