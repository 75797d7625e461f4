//! Helpers the operations share: row decoding, reference resolution, the memory filter's SQL, and
//! deletion of memories. They use only the connection layer (and `dialect`), never an operation.

pub(crate) mod cold;
pub(crate) mod counts;
pub(crate) mod filter;
pub(crate) mod ingest;
pub(crate) mod purge;
pub(crate) mod refs;
pub(crate) mod rows;

/// Trims rows fetched with `limit + 1` to `limit`; the cursor (of the last row kept) is set only
/// when the extra row proved that more exist.
pub(crate) fn finish_page<T, C>(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> C) -> (Vec<T>, Option<C>) {
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if has_more { rows.last().map(cursor_of) } else { None };
    (rows, next)
}
