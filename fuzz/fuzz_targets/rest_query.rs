//! REST query strings: the first byte picks a route (`engram_server::fuzzing::REST_QUERY_ROUTES`),
//! the rest is the query string, parsed, converted and checked as that route's handler and
//! operation do. A refusal is HTTP 400 naming the parameter.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&route, query)) = data.split_first() else { return };
    let Ok(query) = std::str::from_utf8(query) else { return };
    if let Err(refused) = engram_server::fuzzing::rest_query(route, query) {
        let name =
            engram_server::fuzzing::REST_QUERY_ROUTES[route as usize % engram_server::fuzzing::REST_QUERY_ROUTES.len()];
        common::assert_client_error(&refused, 400, name);
    }
});
