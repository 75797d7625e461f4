//! The `engram` server: configuration, auth, gRPC services and the CLI behind the binary.

pub mod app;
pub mod auth;
pub mod cli;
pub mod grpc;
pub mod rest;
pub mod server;
