//! All of the node's integration tests in one binary: one link of RocksDB
//! instead of one per file. Each module is one former test file.

mod common;

mod blob_store;
mod blob_transfer;
mod cli;
mod cluster_snapshot;
mod dicom_oracle;
mod dimse_bad_input;
mod dimse_find;
mod dimse_net;
mod dimse_scp;
mod dimse_scu;
mod docs_map;
mod durability;
mod gc;
mod lua_execute;
mod lua_modify;
mod lua_outbound;
mod lua_routing;
mod lua_stable;
mod modify_oracle;
mod orthanc_interop;
mod parser_robustness;
mod raft_storage;
mod rest_access;
mod rest_anonymize;
mod rest_archive;
mod rest_attachments;
mod rest_cluster;
mod rest_core;
mod rest_find;
mod rest_instance_data;
mod rest_media;
mod rest_modalities;
mod rest_oracle;
mod rest_resources;
mod rest_process;
mod rest_routes;
mod rest_upload;
mod rest_stable;
mod webdav;
