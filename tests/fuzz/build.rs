//! Compiles the wire protocol with protox (pure Rust: no protoc), messages only: the `grpc` target
//! decodes the request and reply bodies, it never runs a server.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugin-api/proto");
    let file = format!("{proto_dir}/loopchain.proto");
    println!("cargo:rerun-if-changed={file}");
    let fds = protox::compile([&file], [proto_dir])?;
    // BTreeMap for `map<>` fields (lc-network uses HashMap): same decoding, but a deterministic
    // encoding, so the target can assert that re-encoding is stable.
    prost_build::Config::new().btree_map(["."]).compile_fds(fds)?;
    Ok(())
}
