//! TEMP SHIM
use std::collections::BTreeMap; use std::net::IpAddr; use std::path::PathBuf;
pub struct BlobsConfig { pub url: Option<String>, pub fsync: bool }
pub struct Config { pub name: String, pub storage_directory: PathBuf, pub index_directory: PathBuf, pub http_port: u16, pub dicom_port: u16, pub dicom_aet: String, pub stable_age: u64, pub overwrite_instances: bool, pub store_md5: bool, pub remote_access_allowed: bool, pub authentication_enabled: bool, pub registered_users: BTreeMap<String,String>, pub http_bind: IpAddr, pub blobs: BlobsConfig, pub raw: serde_json::Value }
