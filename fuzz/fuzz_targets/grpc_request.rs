//! engram.v1 request messages: the first byte picks the message type
//! (`engram_server::fuzzing::GRPC_REQUESTS`, every *Request of the API), the rest is decoded as
//! it, converted to domain types as its adapter does and checked as its operation does. A refusal
//! is INVALID_ARGUMENT naming the field, never INTERNAL or a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, message)) = data.split_first() else { return };
    if let Err(refused) = engram_server::fuzzing::grpc_request(kind, message) {
        let name = engram_server::fuzzing::GRPC_REQUESTS[kind as usize % engram_server::fuzzing::GRPC_REQUESTS.len()];
        common::assert_client_error(&refused, 3, name);
    }
});
