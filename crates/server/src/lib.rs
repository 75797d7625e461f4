//! The `engram` server: configuration, auth, gRPC services, the REST surface and the CLI behind
//! the binary. The domain operations are in `engram-app`.
//!
//! Modules depend in one direction: `cli` → `server` → (`grpc`, `rest`, `mcp`, `auth`) → `config`;
//! `mcp` calls the REST router it is given, and imports no other surface; `shed` (load shedding)
//! uses only `grpc::framing`.

pub mod auth;
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod mcp;
pub mod rest;
pub mod server;
pub mod shed;
