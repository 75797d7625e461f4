//! Helpers to run the real engram binary.
