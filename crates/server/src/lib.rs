//! The `engram` server: configuration, auth, gRPC services, the REST surface and the CLI behind
//! the binary. The domain operations are in `engram-app`.
//!
//! Modules depend in one direction: `cli` → `server` → (`grpc`, `rest`, `mcp`, `auth`) → `config`;
//! `cli` → `export` (export, import and backup of a store; it imports no other module);
//! `mcp` calls the REST router it is given, and imports no other surface; `shed` (load shedding)
//! uses only `grpc::framing`; `telemetry` (logs, traces, metrics) uses only `grpc::framing`; `tls`
//! (the port's listener) uses only `config`.

pub mod auth;
pub mod cli;
pub mod config;
pub mod connections;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod mcp;
pub mod rest;
pub mod server;
pub mod shed;
pub mod telemetry;
pub mod tls;
