//! The `engram` server: configuration, auth, gRPC services, the REST surface and the CLI behind
//! the binary. The domain operations are in `engram-app`.
//!
//! Modules depend in one direction: `cli` → `server` → (`grpc`, `rest`, `auth`) → `config`.

pub mod auth;
pub mod cli;
pub mod config;
pub mod grpc;
pub mod rest;
pub mod server;
