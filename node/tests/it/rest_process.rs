//! `/tools/reset` and `/tools/shutdown` on a real `isengard` process: a reset
//! restarts the node on its configuration file read anew; a shutdown ends the
//! process with status 0.

use std::io::{BufRead, BufReader, Lines};
use std::process::{ChildStdout, Command, Stdio};
use std::time::Duration;

fn write_config(path: &std::path::Path, data: &std::path::Path, name: &str) {
    let text = format!(
        r#"{{ "Name": "{name}", "StorageDirectory": "{}", "HttpPort": 0, "DicomPort": 0, "Isengard": {{ "HttpBind": "127.0.0.1" }} }}"#,
        data.display()
    );
    std::fs::write(path, text).unwrap();
}

/// The next address the node says it serves the REST API on.
fn next_address(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    loop {
        let line = lines.next().expect("isengard exited").expect("log line");
        if let Some(rest) = line.split("isengard is serving the REST API addr=").nth(1) {
            return format!("http://{}", rest.split_whitespace().next().unwrap());
        }
    }
}

#[tokio::test]
async fn reset_rereads_the_configuration_and_shutdown_stops() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    write_config(&config, &dir.path().join("data"), "first");
    let mut child = Command::new(env!("CARGO_BIN_EXE_isengard"))
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start isengard");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let client = reqwest::Client::new();
    let base = next_address(&mut lines);
    let system: serde_json::Value = client.get(format!("{base}/system")).send().await.unwrap().json().await.unwrap();
    assert_eq!(system["Name"], "first");

    write_config(&config, &dir.path().join("data"), "second");
    let r = client.post(format!("{base}/tools/reset")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let base = tokio::task::spawn_blocking(move || {
        let base = next_address(&mut lines);
        std::thread::spawn(move || for _ in lines {});
        base
    })
    .await
    .unwrap();
    let system: serde_json::Value = client.get(format!("{base}/system")).send().await.unwrap().json().await.unwrap();
    assert_eq!(system["Name"], "second");

    let r = client.post(format!("{base}/tools/shutdown")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let exited = tokio::task::spawn_blocking(move || child.wait());
    let status = tokio::time::timeout(Duration::from_secs(30), exited)
        .await
        .expect("the node stops within 30 s")
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
