//! REST JSON bodies: the first byte picks a route (`engram_server::fuzzing::REST_BODY_ROUTES`), the
//! rest is the body, decoded, converted and checked as that route's handler and operation do. A
//! refusal is HTTP 400 naming the field; what is accepted keeps the domain's promises (asserted in
//! `engram_server::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&route, body)) = data.split_first() else { return };
    if let Err(refused) = engram_server::fuzzing::rest_body(route, body) {
        let name =
            engram_server::fuzzing::REST_BODY_ROUTES[route as usize % engram_server::fuzzing::REST_BODY_ROUTES.len()];
        common::assert_client_error(&refused, 400, name);
    }
});
