//! The dcmtk tools (`/usr/bin`, not the pynetdicom scripts of the same names
//! that may come first in `PATH`): `storescu` for C-STORE ingest, `movescu`
//! towards the bench's `storescp`, `getscu`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::servers::{Env, Process, SCP_AET, SCU_AET};

const STORESCU: &str = "/usr/bin/storescu";
const STORESCP: &str = "/usr/bin/storescp";
const MOVESCU: &str = "/usr/bin/movescu";
const GETSCU: &str = "/usr/bin/getscu";

/// The C-MOVE destination: dcmtk's `storescp` writing into `Env::scp_dir`.
pub struct Storescp {
    child: Child,
}

impl Drop for Storescp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Storescp {
    pub async fn start(env: &Env) -> anyhow::Result<Storescp> {
        std::fs::create_dir_all(&env.scp_dir)?;
        let child = Command::new(STORESCP)
            .args(["-aet", SCP_AET, "-od"])
            .arg(&env.scp_dir)
            .arg(env.scp_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dcmtk's storescp (/usr/bin/storescp)")?;
        let scp = Storescp { child };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", env.scp_port)).is_err() {
            if start.elapsed() > Duration::from_secs(10) {
                bail!("storescp does not listen on port {}", env.scp_port);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(scp)
    }
}

async fn run(mut command: Command, what: &str) -> anyhow::Result<String> {
    command.stdin(Stdio::null());
    let out = tokio::process::Command::from(command)
        .output()
        .await
        .with_context(|| format!("running {what}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            text.chars().take(2000).collect::<String>()
        );
    }
    Ok(text)
}

/// Sends `files` over one association to `node`.
pub async fn storescu(node: &Process, files: &[PathBuf]) -> anyhow::Result<()> {
    let mut command = Command::new(STORESCU);
    command
        .args([
            "-aet",
            SCU_AET,
            "-aec",
            &node.aet,
            "127.0.0.1",
            &node.dicom_port.to_string(),
        ])
        .args(files);
    let text = run(command, "storescu").await?;
    // storescu exits 0 even when a store is refused; it logs the failure.
    if text.contains("E: ") || text.contains("Status: ") && !text.contains("Status: Success") {
        bail!(
            "storescu reported failures: {}",
            text.chars().take(2000).collect::<String>()
        );
    }
    Ok(())
}

/// Files in `dir` (the instances a retrieve wrote), then empties it.
fn count_and_clear(dir: &Path) -> anyhow::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            n += 1;
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(n)
}

/// C-MOVE of study `study_uid` from `node` to the bench's storescp; the
/// number of instances storescp received.
pub async fn movescu(env: &Env, node: &Process, study_uid: &str) -> anyhow::Result<usize> {
    count_and_clear(&env.scp_dir)?;
    let mut command = Command::new(MOVESCU);
    command
        .args(["-S", "-aet", SCU_AET, "-aec", &node.aet, "-aem", SCP_AET])
        .args([
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            &format!("StudyInstanceUID={study_uid}"),
        ])
        .args(["127.0.0.1", &node.dicom_port.to_string()]);
    run(command, "movescu").await?;
    count_and_clear(&env.scp_dir)
}

/// C-GET of study `study_uid` from `node` into `dir`; the number of
/// instances received.
pub async fn getscu(node: &Process, study_uid: &str, dir: &Path) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir)?;
    count_and_clear(dir)?;
    let mut command = Command::new(GETSCU);
    command
        .args(["-S", "-aet", SCU_AET, "-aec", &node.aet, "-od"])
        .arg(dir)
        .args([
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            &format!("StudyInstanceUID={study_uid}"),
        ])
        .args(["127.0.0.1", &node.dicom_port.to_string()]);
    run(command, "getscu").await?;
    count_and_clear(dir)
}
