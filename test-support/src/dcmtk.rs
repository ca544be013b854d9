//! dcmtk's `storescp` as a C-STORE / C-MOVE destination. Always
//! `/usr/bin/storescp`: a pynetdicom script of the same name may come first in
//! `PATH`. Its output is discarded; it writes each file it receives into a
//! folder, which is what the tests look at.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{free_port, wait_until, Killed};

const STORESCP: &str = "/usr/bin/storescp";

/// How long [`storescp`] waits for it to listen.
const LISTEN_DEADLINE: Duration = Duration::from_secs(10);

/// Starts `storescp` and waits (up to `deadline`) until it accepts connections.
async fn launch(dir: &Path, aet: &str, port: u16, extra: &[&str], deadline: Duration) -> Killed {
    let child = Command::new(STORESCP)
        .args(["-aet", aet])
        .args(extra)
        .arg("-od")
        .arg(dir)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dcmtk's storescp is installed");
    let guard = Killed(child);
    wait_until(deadline, "storescp listens", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
    guard
}

/// dcmtk's `storescp` as AE `aet` on loopback `port`, writing into `dir`
/// (`extra`: more flags, e.g. `+xa` to accept every transfer syntax); returns
/// once it listens. Killed when the guard is dropped.
pub async fn storescp(dir: &Path, aet: &str, port: u16, extra: &[&str]) -> Killed {
    launch(dir, aet, port, extra, LISTEN_DEADLINE).await
}

/// dcmtk's `storescp` on a free loopback port, accepting every transfer
/// syntax (`+xa`); killed on drop.
pub struct StoreScp {
    _process: Killed,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl StoreScp {
    /// Starts it as AE `aet`, writing into `dir`, and waits (up to
    /// `deadline`) until it listens.
    pub async fn start(dir: &Path, aet: &str, deadline: Duration) -> StoreScp {
        let port = free_port();
        let process = launch(dir, aet, port, &["+xa"], deadline).await;
        StoreScp {
            _process: process,
            addr: ([127, 0, 0, 1], port).into(),
        }
    }
}
