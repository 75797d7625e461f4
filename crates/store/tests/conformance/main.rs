//! The store conformance suite: the behaviour every [`Store`](engram_store::Store) backend must
//! have, one file per resource (a new store trait brings its own file).
//!
//! Every check is a backend-neutral `async fn` taking `&dyn Store` (or `Arc<dyn Store>` when it
//! needs concurrency). In each file, `conformance_suite!` expands to `mod sqlite` and `mod
//! postgres`, one `#[tokio::test]` per check, each on a fresh, migrated, empty store: SQLite in a
//! temporary file, PostgreSQL in a fresh database on the server of `ENGRAM_TEST_DATABASE_URL`
//! (default the local one; no server fails the suite). Every check also creates its own org(s), so
//! checks stay independent even on a shared database.
//!
//! Run: `cargo test -p engram-store --test conformance` (names: `agents::postgres::agents_delete`).

#![allow(clippy::unwrap_used)]

/// Asserts that `$result` is an `Err` matching `$pattern` (and the optional guard).
macro_rules! assert_err {
    ($result:expr, $pattern:pat $(if $guard:expr)? $(,)?) => {
        match $result {
            Err($pattern) $(if $guard)? => {}
            other => panic!(
                "{}:{}: `{}`: expected Err({}), got {:?}",
                file!(),
                line!(),
                stringify!($result),
                stringify!($pattern $(if $guard)?),
                other
            ),
        }
    };
}

/// `conformance_suite!(by_ref: [checks..], shared: [checks..])` in a resource file: a test per
/// check and backend. `by_ref` checks take `&dyn Store`, `shared` ones `Arc<dyn Store>`.
macro_rules! conformance_suite {
    ($(by_ref: [$($check:ident),* $(,)?])? $(,)? $(shared: [$($shared:ident),* $(,)?])?) => {
        conformance_suite!(@backend sqlite, $crate::support::sqlite_fixture;
            [$($($check),*)?] [$($($shared),*)?]);
        conformance_suite!(@backend postgres, $crate::support::postgres_fixture;
            [$($($check),*)?] [$($($shared),*)?]);
    };
    (@backend $backend:ident, $factory:path; [$($check:ident),*] [$($shared:ident),*]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let fixture = $factory().await;
                    super::$check(fixture.store.as_ref()).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $shared() {
                    let fixture = $factory().await;
                    super::$shared(fixture.store.clone()).await;
                }
            )*
        }
    };
}

mod support;

mod access;
mod agents;
mod concurrency;
mod conversations;
mod embed_queue;
mod erasure;
mod export;
mod feed;
mod isolation;
mod keys;
mod lifecycle;
mod limits;
mod memories_add;
mod memories_change;
mod memories_list;
mod orgs;
mod sessions;
mod states;
mod stats;
mod vectors;
mod within;
mod working_memory;
