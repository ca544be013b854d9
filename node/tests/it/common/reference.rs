//! The reference Orthanc 1.10.1 (`/usr/sbin/Orthanc`) as a REST oracle:
//! started on free loopback ports with a temporary storage folder (DICOM
//! peers and other options added by the caller), killed when dropped (even
//! when the test fails).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::{free_port, wait_until};

pub const ORTHANC: &str = "/usr/sbin/Orthanc";

pub struct ReferenceOrthanc {
    child: Child,
    pub base: String,
    pub dicom_port: u16,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for ReferenceOrthanc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ReferenceOrthanc {
    pub async fn start() -> ReferenceOrthanc {
        ReferenceOrthanc::start_with(json!({})).await
    }

    /// Starts Orthanc with `extra` (an object) added to its configuration.
    pub async fn start_with(extra: Value) -> ReferenceOrthanc {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        let dicom_port = free_port();
        let mut config = json!({
            "Name": "reference",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "HttpPort": free_port(),
            "DicomPort": dicom_port,
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false,
            "Plugins": [],
        });
        if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
            config.extend(extra);
        }
        let dicom_port = config["DicomPort"]
            .as_u64()
            .map_or(dicom_port, |p| p as u16);
        let config_path = dir.path().join("orthanc.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let child = Command::new(ORTHANC)
            .arg(&config_path)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the reference Orthanc is installed at /usr/sbin/Orthanc");
        let base = format!("http://127.0.0.1:{}", config["HttpPort"]);
        let orthanc = ReferenceOrthanc {
            child,
            base,
            dicom_port,
            client: reqwest::Client::new(),
            _dir: dir,
        };
        let (client, url) = (orthanc.client.clone(), orthanc.url("/system"));
        wait_until(
            Duration::from_secs(30),
            "the reference Orthanc answers /system",
            || {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    client
                        .get(&url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                }
            },
        )
        .await;
        orthanc
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Uploads a file and expects success; returns the answer.
    pub async fn upload(&self, bytes: Vec<u8>) -> Value {
        let r = self
            .client
            .post(self.url("/instances"))
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "Orthanc POST /instances: {}",
            r.status()
        );
        r.json().await.unwrap()
    }
}
