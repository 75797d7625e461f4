//! Generated code for the `engram.v1` protobuf package.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("engram.v1");
}

/// Encoded `FileDescriptorSet` of every engram.v1 file, for the reflection service.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("engram_descriptor");

pub use prost_types;
