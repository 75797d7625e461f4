//! Generates the engram.v1 types and services, and a descriptor set for server reflection.
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "engram/v1/common.proto",
    "engram/v1/agents.proto",
    "engram/v1/sessions.proto",
    "engram/v1/memories.proto",
    "engram/v1/context.proto",
    "engram/v1/admin.proto",
    "engram/v1/conversations.proto",
    "engram/v1/working_memory.proto",
    "engram/v1/watch.proto",
    "engram/v1/simulation.proto",
    "engram/v1/lifecycle.proto",
    "engram/v1/erasure.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let include = protoc_bin_vendored::include_path()?;
    // tonic-prost-build prints no rerun-if-changed; without these every build reruns codegen.
    println!("cargo:rerun-if-changed=build.rs");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
    }
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .build_client(cfg!(feature = "client"))
        .build_server(cfg!(feature = "server"))
        .file_descriptor_set_path(out.join("engram_descriptor.bin"))
        .compile_with_config(config, &files, &[root, include])?;
    Ok(())
}
