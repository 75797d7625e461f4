//! The schema of every org's index. A leaf: it uses no other module of the crate but the
//! tokenizers' names.

use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions};

use crate::{analyzer, grams};

/// The fields of every org's index.
#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub key: Field,
    /// Content, reasoning, tags and event type, analysed (see [`analyzer`]).
    pub text: Field,
    /// Content, lowercased, as trigrams (see [`grams`]): `content_contains` candidates.
    pub grams: Field,
    /// Content, lowercased, as pair terms ([`grams::pair_terms`], pre-tokenized).
    pub pairs: Field,
    pub agent: Field,
    pub session: Field,
    /// The end user the memory is about (absent: no scope).
    pub scope: Field,
    /// Top-level metadata keys with scalar values, as [`engram_core::attribute_term`]s.
    pub attrs: Field,
    pub memory_type: Field,
    pub event_type: Field,
    pub tags: Field,
    pub importance: Field,
    pub time: Field,
    pub step: Field,
    /// `i64::MAX` when the memory does not expire.
    pub expires: Field,
    /// The memory's vector (little-endian f32), if it has one: loaded into memory at start.
    pub vector: Field,
}

pub(crate) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(analyzer::NAME)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let grams = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(grams::NAME).set_index_option(IndexRecordOption::Basic),
    );
    let fields = Fields {
        key: b.add_u64_field("key", INDEXED | FAST),
        text: b.add_text_field("text", text),
        grams: b.add_text_field("grams", grams.clone()),
        pairs: b.add_text_field("pairs", grams),
        agent: b.add_text_field("agent", STRING),
        session: b.add_text_field("session", STRING | FAST),
        scope: b.add_text_field("scope", STRING),
        attrs: b.add_text_field("attrs", STRING),
        memory_type: b.add_text_field("memory_type", STRING),
        event_type: b.add_text_field("event_type", STRING),
        tags: b.add_text_field("tags", STRING),
        importance: b.add_f64_field("importance", INDEXED | FAST),
        time: b.add_i64_field("time", INDEXED | FAST),
        step: b.add_i64_field("step", INDEXED | FAST),
        expires: b.add_i64_field("expires", INDEXED | FAST),
        vector: b.add_bytes_field("vector", FAST),
    };
    (b.build(), fields)
}
