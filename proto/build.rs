//! Compiles the node-to-node protobuf definitions with a vendored protoc.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .bytes(".isengard.blobs")
        .compile_protos(&["proto/raft.proto", "proto/blobs.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
