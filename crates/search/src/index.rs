//! [`FullText`]: the per-org tantivy indexes, on disk (resumable) or in memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::indexer::LogMergePolicy;
use tantivy::query::{AllQuery, BooleanQuery, EnableScoring, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::schema::{Field, Schema};
use tantivy::tokenizer::{PreTokenizedString, TextAnalyzer, Token};
use tantivy::{
    DocId, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader, TERMINATED, TantivyDocument,
    Term,
};

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use crate::analyzer::{self, TextQuery};
use crate::grams;
use crate::neighbourhood::Neighbourhood;
use crate::query::{Ranking, filter_clauses, text_query};
use crate::schema::{Fields, schema};
use crate::timeline::Timeline;
use crate::vectors::{GraphStep, Vectors};

/// The schema's (and analyzer's) version, kept in each commit's payload: an index of another
/// version is rebuilt.
const SCHEMA_VERSION: u32 = 8;

/// Slots the graph builder adds per hold of the vectors' read lock (about 10 ms of work: a write
/// waits at most that long), and how long it sleeps once it has caught up.
const GRAPH_STEP: usize = 32;
const GRAPH_IDLE: Duration = Duration::from_millis(200);

/// Bytes of memory the indexing of one org may use before it writes a segment.
const WRITER_MEMORY: usize = 32_000_000;

/// A memory to index: its key, the memory as last written, its vector.
#[derive(Debug, Clone, Copy)]
pub struct Indexed<'a> {
    pub key: i64,
    pub memory: &'a Memory,
    pub vector: Option<&'a [f32]>,
}

/// What a vector search found: (key, cosine similarity), best first, and how many memories the
/// filters admit that have no vector.
#[derive(Debug, Clone, Default)]
pub struct Nearest {
    pub found: Vec<(i64, f32)>,
    pub unembedded: u64,
}

/// Every vector of an index, from its `vector` column.
fn load_vectors(reader: &IndexReader) -> Result<Vectors> {
    let mut vectors = Vectors::default();
    let searcher = reader.searcher();
    let mut bytes = Vec::new();
    for segment in searcher.segment_readers() {
        let Some(column) = segment.fast_fields().bytes("vector").map_err(|e| error("vector column", e))? else {
            continue;
        };
        let keys = segment.fast_fields().u64("key").map_err(|e| error("key column", e))?.first_or_default_col(0);
        for doc in 0..segment.max_doc() {
            if segment.is_deleted(doc) {
                continue;
            }
            let Some(ord) = column.term_ords(doc).next() else { continue };
            bytes.clear();
            if column.ord_to_bytes(ord, &mut bytes).map_err(|e| error("vector", e))? {
                vectors.upsert(i64::try_from(keys.get_val(doc)).unwrap_or(i64::MAX), &vector::from_bytes(&bytes));
            }
        }
    }
    vectors.compact();
    Ok(vectors)
}

/// Every session's memories in order, from the `session` and `time` columns.
fn load_timeline(reader: &IndexReader) -> Result<Timeline> {
    let mut timeline = Timeline::default();
    let searcher = reader.searcher();
    let mut session = Vec::new();
    for segment in searcher.segment_readers() {
        let fast = segment.fast_fields();
        let Some(sessions) = fast.str("session").map_err(|e| error("session column", e))? else { continue };
        let keys = fast.u64("key").map_err(|e| error("key column", e))?.first_or_default_col(0);
        let times = fast.i64("time").map_err(|e| error("time column", e))?.first_or_default_col(0);
        for doc in 0..segment.max_doc() {
            if segment.is_deleted(doc) {
                continue;
            }
            let Some(ord) = sessions.term_ords(doc).next() else { continue };
            session.clear();
            if sessions.ord_to_bytes(ord, &mut session).map_err(|e| error("session", e))? {
                let key = i64::try_from(keys.get_val(doc)).unwrap_or(i64::MAX);
                timeline.upsert(key, std::str::from_utf8(&session).ok(), times.get_val(doc));
            }
        }
    }
    Ok(timeline)
}

/// The keys of the live documents that match `query` (unscored), read straight from each
/// segment's key column.
fn matching_keys(index: &OrgIndex, query: &dyn Query) -> Result<Vec<i64>> {
    let searcher = index.reader.searcher();
    let weight = query.weight(EnableScoring::disabled_from_searcher(&searcher)).map_err(|e| error("filtering", e))?;
    let mut keys = Vec::new();
    for segment in searcher.segment_readers() {
        let column = segment.fast_fields().u64("key").map_err(|e| error("key column", e))?.first_or_default_col(0);
        let alive = segment.alive_bitset();
        weight
            .for_each_no_score(segment, &mut |docs| {
                for &doc in docs {
                    if alive.is_none_or(|a| a.is_alive(doc)) {
                        keys.push(i64::try_from(column.get_val(doc)).unwrap_or(i64::MAX));
                    }
                }
            })
            .map_err(|e| error("filtering", e))?;
    }
    Ok(keys)
}

/// The (time, key) of the live documents that match `query`, or None when more than `max` do
/// (the count stops there).
fn matching_times_at_most(index: &OrgIndex, query: &dyn Query, max: usize) -> Result<Option<Vec<(i64, i64)>>> {
    let searcher = index.reader.searcher();
    let weight = query.weight(EnableScoring::disabled_from_searcher(&searcher)).map_err(|e| error("filtering", e))?;
    let mut found = Vec::new();
    for segment in searcher.segment_readers() {
        let fast = segment.fast_fields();
        let keys = fast.u64("key").map_err(|e| error("key column", e))?.first_or_default_col(0);
        let times = fast.i64("time").map_err(|e| error("time column", e))?.first_or_default_col(0);
        let alive = segment.alive_bitset();
        let mut docs = weight.scorer(segment, 1.0).map_err(|e| error("filtering", e))?;
        let mut doc = docs.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                if found.len() == max {
                    return Ok(None);
                }
                found.push((times.get_val(doc), i64::try_from(keys.get_val(doc)).unwrap_or(i64::MAX)));
            }
            doc = docs.advance();
        }
    }
    Ok(Some(found))
}

/// What the trigram index offers a `content_contains` filter ([`FullText::contains_candidates`]):
/// every indexed memory that can match is in `found`, as (time in µs, key) as indexed, in
/// ascending order; a memory written after `through_seq` (the commit sequence number the index had
/// reached) is not indexed yet and can match too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates {
    pub found: Vec<(i64, i64)>,
    pub through_seq: i64,
}

/// Terms as a pre-tokenized text (no tokenizer runs on them).
fn pre_tokenized(terms: Vec<String>) -> PreTokenizedString {
    let tokens = terms
        .into_iter()
        .enumerate()
        .map(|(position, text)| Token { offset_from: 0, offset_to: 0, position, text, position_length: 1 })
        .collect();
    PreTokenizedString { text: String::new(), tokens }
}

/// A memory found by a search, with its score's parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub key: i64,
    pub score: f64,
    pub keyword: f64,
    pub recency: f64,
    pub importance: f64,
}

struct OrgIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    /// The vectors of the indexed memories, normalized, in memory (loaded from the index).
    vectors: RwLock<Vectors>,
    /// Each session's memories in order (loaded from the index).
    timeline: RwLock<Timeline>,
    /// The commit sequence number the index has reached (see `engram_store::FeedStore`).
    seq: AtomicI64,
    /// The store's sequence number as the indexer last saw it ([`FullText::saw_head`]).
    head: AtomicI64,
    /// A thread is building the org's vector graph ([`build_graph`]).
    graph_builder: AtomicBool,
}

/// Starts the org's graph builder if the org now wants a graph and none runs. Called by a search
/// that admits more vectors than the exact scan reads in time: an org whose searches all stay
/// narrow (an agent, a session) never pays for a graph, and ingest never shares the machine with a
/// builder it does not need.
fn ensure_graph(index: &Arc<OrgIndex>) {
    let mut vectors = index.vectors.write().unwrap_or_else(PoisonError::into_inner);
    if vectors.wants_graph() {
        vectors.start_graph();
    }
    if !vectors.has_graph() || index.graph_builder.swap(true, Ordering::AcqRel) {
        return;
    }
    drop(vectors);
    let weak = Arc::downgrade(index);
    let spawned = std::thread::Builder::new().name("engram-graph".into()).spawn(move || build_graph(&weak));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "vector graph: no builder thread; searches scan every vector");
        index.graph_builder.store(false, Ordering::Release);
    }
}

/// The graph builder: adds the org's vectors to its graph a step at a time, then follows new
/// ones; ends when the graph is gone (the org was reset or usearch failed) or the index dropped.
fn build_graph(index: &Weak<OrgIndex>) {
    let started = std::time::Instant::now();
    let mut built = false;
    while let Some(index) = index.upgrade() {
        let step = index.vectors.read().unwrap_or_else(PoisonError::into_inner).extend_graph(GRAPH_STEP);
        match step {
            GraphStep::Added(_) => {}
            GraphStep::Grow => index.vectors.write().unwrap_or_else(PoisonError::into_inner).grow_graph(GRAPH_STEP),
            GraphStep::Done => {
                if !built {
                    built = true;
                    let vectors = index.vectors.read().unwrap_or_else(PoisonError::into_inner);
                    let (count, bytes) = (vectors.len(), vectors.graph_bytes());
                    tracing::info!(count, bytes, seconds = started.elapsed().as_secs_f64(), "vector graph built");
                }
                drop(index);
                std::thread::sleep(GRAPH_IDLE);
            }
            GraphStep::Gone => {
                index.graph_builder.store(false, Ordering::Release);
                return;
            }
        }
    }
}

/// Every org's full-text index.
pub struct FullText {
    /// None: indexes in memory, rebuilt from the store at each start.
    root: Option<PathBuf>,
    schema: Schema,
    fields: Fields,
    /// The one analyzer (built once: its stop words are shared by every clone).
    analyzer: TextAnalyzer,
    /// Content as trigrams ([`grams`]).
    grams: TextAnalyzer,
    orgs: Mutex<HashMap<String, Arc<OrgIndex>>>,
}

fn error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("full-text index: {what}: {e}"))
}

/// An org id as a directory name (ids are `[A-Za-z0-9_-]`; anything else is hex-encoded).
fn dir_name(org: &str) -> String {
    if !org.is_empty() && org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        org.to_owned()
    } else {
        format!("x{}", org.bytes().map(|b| format!("{b:02x}")).collect::<String>())
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    version: u32,
    seq: i64,
}

impl FullText {
    /// Indexes under `root` (one directory per org), or in memory when None.
    pub fn open(root: Option<&Path>) -> Result<Self> {
        if let Some(root) = root {
            std::fs::create_dir_all(root).map_err(|e| error(&format!("creating {}", root.display()), e))?;
        }
        let (schema, fields) = schema();
        let (analyzer, grams) = (analyzer::analyzer(), grams::analyzer());
        Ok(Self { root: root.map(Path::to_path_buf), schema, fields, analyzer, grams, orgs: Mutex::default() })
    }

    fn org(&self, org: &str) -> Result<Arc<OrgIndex>> {
        let mut orgs = self.orgs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = orgs.get(org) {
            return Ok(found.clone());
        }
        let opened = Arc::new(self.open_org(org)?);
        orgs.insert(org.to_owned(), opened.clone());
        Ok(opened)
    }

    fn open_org(&self, org: &str) -> Result<OrgIndex> {
        let index = match &self.root {
            None => Index::create_in_ram(self.schema.clone()),
            Some(root) => {
                let dir = root.join(dir_name(org));
                match self.open_dir(&dir) {
                    Ok(index) => index,
                    Err(e) => {
                        // Derived data: an index of another schema, or a damaged one, is rebuilt.
                        tracing::warn!(org, error = %e, "full-text index unusable; rebuilding it from the store");
                        std::fs::remove_dir_all(&dir).map_err(|e| error("removing an old index", e))?;
                        self.open_dir(&dir)?
                    }
                }
            }
        };
        index.tokenizers().register(analyzer::NAME, self.analyzer.clone());
        index.tokenizers().register(grams::NAME, self.grams.clone());
        let payload = index.load_metas().map_err(|e| error("reading", e))?.payload;
        let seq = match payload.map(|p| serde_json::from_str::<Payload>(&p)) {
            Some(Ok(p)) if p.version == SCHEMA_VERSION => p.seq,
            _ => 0,
        };
        let writer: IndexWriter =
            index.writer_with_num_threads(1, WRITER_MEMORY).map_err(|e| error("opening a writer", e))?;
        // BM25's document frequencies count replaced (updated) versions until their segment is
        // merged: merge a segment once a tenth of it is stale.
        let mut policy = LogMergePolicy::default();
        policy.set_del_docs_ratio_before_merge(0.1);
        writer.set_merge_policy(Box::new(policy));
        let reader =
            index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(|e| error("reader", e))?;
        let vectors = RwLock::new(load_vectors(&reader)?);
        let timeline = RwLock::new(load_timeline(&reader)?);
        Ok(OrgIndex {
            reader,
            writer: Mutex::new(writer),
            vectors,
            timeline,
            seq: AtomicI64::new(seq),
            head: AtomicI64::new(0),
            graph_builder: AtomicBool::new(false),
        })
    }

    fn open_dir(&self, dir: &Path) -> Result<Index> {
        std::fs::create_dir_all(dir).map_err(|e| error(&format!("creating {}", dir.display()), e))?;
        let directory = MmapDirectory::open(dir).map_err(|e| error("opening", e))?;
        let index = Index::open_or_create(directory, self.schema.clone()).map_err(|e| error("opening", e))?;
        let metas = index.load_metas().map_err(|e| error("reading", e))?;
        match metas.payload.as_deref().map(serde_json::from_str::<Payload>) {
            Some(Ok(p)) if p.version != SCHEMA_VERSION => Err(error("schema", format!("version {}", p.version))),
            _ => Ok(index),
        }
    }

    /// The commit sequence number the org's index has reached (0: nothing indexed yet).
    pub fn indexed_seq(&self, org: &str) -> Result<i64> {
        Ok(self.org(org)?.seq.load(Ordering::Acquire))
    }

    /// Records the store's commit sequence number for the org as the indexer read it: how far
    /// behind the index is ([`FullText::contains_candidates`] uses the index only when it is close).
    pub fn saw_head(&self, org: &str, head: i64) -> Result<()> {
        self.org(org)?.head.store(head, Ordering::Release);
        Ok(())
    }

    /// Indexes memories as last written (replacing earlier versions, by key) and records that the
    /// org's index has reached `through_seq`; searches see them when this returns.
    pub fn apply(&self, org: &str, memories: &[Indexed<'_>], through_seq: i64) -> Result<()> {
        let index = self.org(org)?;
        let f = self.fields;
        let mut writer = index.writer.lock().unwrap_or_else(PoisonError::into_inner);
        for m in memories {
            let key = u64::try_from(m.key).map_err(|e| error("key", e))?;
            writer.delete_term(Term::from_field_u64(f.key, key));
            writer.add_document(self.document(key, m.memory, m.vector)).map_err(|e| error("adding", e))?;
        }
        self.commit(&index, &mut writer, through_seq)?;
        let mut vectors = index.vectors.write().unwrap_or_else(PoisonError::into_inner);
        for m in memories {
            match m.vector {
                Some(vector) => vectors.upsert(m.key, vector),
                None => vectors.remove(m.key),
            }
        }
        drop(vectors);
        let mut timeline = index.timeline.write().unwrap_or_else(PoisonError::into_inner);
        for m in memories {
            timeline.upsert(m.key, m.memory.session_id.as_deref(), to_micros(m.memory.time));
        }
        Ok(())
    }

    /// Empties the org's index (it will be rebuilt from sequence number 0).
    pub fn reset(&self, org: &str) -> Result<()> {
        let index = self.org(org)?;
        let mut writer = index.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer.delete_all_documents().map_err(|e| error("emptying", e))?;
        self.commit(&index, &mut writer, 0)?;
        index.vectors.write().unwrap_or_else(PoisonError::into_inner).clear();
        index.timeline.write().unwrap_or_else(PoisonError::into_inner).clear();
        Ok(())
    }

    /// Drops memories (by key) that the store no longer has.
    pub fn remove(&self, org: &str, keys: &[i64]) -> Result<()> {
        let index = self.org(org)?;
        let mut writer = index.writer.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            writer.delete_term(Term::from_field_u64(self.fields.key, u64::try_from(*key).unwrap_or(0)));
        }
        let seq = index.seq.load(Ordering::Acquire);
        self.commit(&index, &mut writer, seq)?;
        let mut vectors = index.vectors.write().unwrap_or_else(PoisonError::into_inner);
        keys.iter().for_each(|key| vectors.remove(*key));
        drop(vectors);
        let mut timeline = index.timeline.write().unwrap_or_else(PoisonError::into_inner);
        keys.iter().for_each(|key| timeline.remove(*key));
        Ok(())
    }

    fn commit(&self, index: &OrgIndex, writer: &mut IndexWriter, seq: i64) -> Result<()> {
        let mut prepared = writer.prepare_commit().map_err(|e| error("committing", e))?;
        let payload = serde_json::to_string(&Payload { version: SCHEMA_VERSION, seq }).unwrap_or_default();
        prepared.set_payload(&payload);
        prepared.commit().map_err(|e| error("committing", e))?;
        index.reader.reload().map_err(|e| error("reloading", e))?;
        index.seq.store(seq, Ordering::Release);
        Ok(())
    }

    fn document(&self, key: u64, m: &Memory, vector: Option<&[f32]>) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_u64(f.key, key);
        let mut text = String::with_capacity(m.content.len() + 64);
        text.push_str(&m.content);
        if let Some(reasoning) = m.reasoning() {
            text.push('\n');
            text.push_str(reasoning);
        }
        for tag in &m.tags {
            text.push('\n');
            text.push_str(tag);
        }
        text.push('\n');
        text.push_str(&m.event_type);
        doc.add_text(f.text, &text);
        let lowercased = grams::document_text(&m.content);
        let pairs = grams::pair_terms(&lowercased);
        doc.add_pre_tokenized_text(f.pairs, pre_tokenized(pairs));
        doc.add_text(f.grams, lowercased);
        doc.add_text(f.agent, &m.agent_id);
        if let Some(session) = &m.session_id {
            doc.add_text(f.session, session);
        }
        if let Some(scope) = &m.scope {
            doc.add_text(f.scope, scope);
        }
        // Attribute filters take values of at most 1024 bytes: longer ones are not indexed.
        for (key, value) in m.metadata.iter().filter(|(_, v)| v.as_str().is_none_or(|s| s.len() <= 1024)) {
            if let Some(term) = attribute_term(key, value) {
                doc.add_text(f.attrs, term);
            }
        }
        doc.add_text(f.memory_type, m.memory_type.as_str());
        doc.add_text(f.event_type, &m.event_type);
        for tag in &m.tags {
            doc.add_text(f.tags, tag);
        }
        doc.add_f64(f.importance, m.importance);
        doc.add_i64(f.time, to_micros(m.time));
        if let Some(step) = m.step {
            doc.add_i64(f.step, step);
        }
        doc.add_i64(f.expires, m.expires_at.map_or(i64::MAX, to_micros));
        if let Some(vector) = vector {
            doc.add_bytes(f.vector, &vector::to_bytes(vector));
        }
        doc
    }

    /// The best `window` memories of the org for `query` among those `filter` admits (every
    /// field but `content_contains`; the agent by id), best first: by the combined score, then
    /// by key, newest first. Empty when the query has no indexable term.
    pub fn search(
        &self,
        org: &str,
        query: &TextQuery,
        filter: &MemoryFilter,
        ranking: Ranking,
        now: Timestamp,
        window: usize,
    ) -> Result<Vec<Scored>> {
        if window == 0 {
            return Ok(Vec::new());
        }
        let index = self.org(org)?;
        let f = self.fields;
        let mut analyzer = self.analyzer.clone();
        let Some(text) = text_query(&f, &mut analyzer, query) else { return Ok(Vec::new()) };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text)];
        clauses.extend(filter_clauses(&f, filter, now));
        let query = BooleanQuery::new(clauses);
        let now_us = to_micros(now);
        let collector = TopDocs::with_limit(window).tweak_score(move |segment: &SegmentReader| {
            let fast = segment.fast_fields();
            let key = fast.u64("key").ok().map(|c| c.first_or_default_col(0));
            let time = fast.i64("time").ok().map(|c| c.first_or_default_col(0));
            let importance = fast.f64("importance").ok().map(|c| c.first_or_default_col(0.5));
            move |doc: DocId, score: Score| {
                let key = key.as_ref().map_or(0, |c| c.get_val(doc));
                let time = time.as_ref().map_or(0, |c| c.get_val(doc));
                let importance = importance.as_ref().map_or(0.5, |c| c.get_val(doc));
                let recency = ranking.recency(time, now_us);
                let combined = ranking.combine(f64::from(score), recency, importance);
                (combined, key, f64::from(score), recency, importance)
            }
        });
        let searcher = index.reader.searcher();
        let found = searcher.search(&query, &collector).map_err(|e| error("searching", e))?;
        Ok(found
            .into_iter()
            .map(|((score, key, keyword, recency, importance), _)| Scored {
                key: i64::try_from(key).unwrap_or(i64::MAX),
                score,
                keyword,
                recency,
                importance,
            })
            .collect())
    }

    /// `scored` (best first, as `(key, score)`) rescored by context ([`Neighbourhood`]): each
    /// memory also by its neighbours in its session and its session's best, and the neighbours
    /// of the best joining the list when `filter` admits them. Best first.
    pub fn in_context(
        &self,
        org: &str,
        filter: &MemoryFilter,
        now: Timestamp,
        scored: &[(i64, f64)],
        context: &Neighbourhood,
    ) -> Result<Vec<(i64, f64)>> {
        if context.is_off() || scored.is_empty() {
            return Ok(scored.to_vec());
        }
        let index = self.org(org)?;
        let timeline = index.timeline.read().unwrap_or_else(PoisonError::into_inner);
        let mut newcomers = context.newcomers(&timeline, scored);
        if !newcomers.is_empty() {
            let admitted = self.admitted_among(&index, filter, now, &newcomers)?;
            newcomers.retain(|key| admitted.contains(key));
        }
        Ok(context.rescore(&timeline, scored, &newcomers))
    }

    /// Which of `keys` the filter admits (as in [`FullText::search`]).
    fn admitted_among(
        &self,
        index: &OrgIndex,
        filter: &MemoryFilter,
        now: Timestamp,
        keys: &[i64],
    ) -> Result<std::collections::HashSet<i64>> {
        let terms = keys.iter().map(|key| Term::from_field_u64(self.fields.key, u64::try_from(*key).unwrap_or(0)));
        let mut clauses = filter_clauses(&self.fields, filter, now);
        clauses.push((Occur::Must, Box::new(TermSetQuery::new(terms))));
        Ok(matching_keys(index, &BooleanQuery::new(clauses))?.into_iter().collect())
    }

    /// The candidates of a `content_contains` needle among the memories `filter` admits (as in
    /// [`FullText::search`]; the needle itself is not tested): a superset of the indexed
    /// memories that match, by the trigrams of the needle's words ([`grams`]). None when the
    /// index cannot narrow the search enough to be worth it: no word of the needle has three
    /// characters, more than `max` memories are candidates, or the index trails the store by
    /// more than `max` writes (at start, while it catches up).
    pub fn contains_candidates(
        &self,
        org: &str,
        needle: &Needle,
        filter: &MemoryFilter,
        now: Timestamp,
        max: usize,
    ) -> Result<Option<Candidates>> {
        let mut analyzer = self.grams.clone();
        let term = |field: Field, text: &str| -> (Occur, Box<dyn Query>) {
            (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic)))
        };
        // Literally: every gram of the needle as written. By the word-prefix rule (several
        // words): every gram of each word, and the pair term of each two consecutive words. Each
        // reading is one flat intersection with the filters (a union inside an intersection
        // would walk both readings' documents, not seek them).
        let literal: Vec<_> =
            grams::literal_grams(&mut analyzer, needle).iter().map(|g| term(self.fields.grams, g)).collect();
        let readings = match needle.words() {
            None if literal.is_empty() => return Ok(None),
            None => vec![literal],
            Some(_) => {
                let mut prefix: Vec<_> =
                    grams::needle_grams(&mut analyzer, needle).iter().map(|g| term(self.fields.grams, g)).collect();
                prefix.extend(grams::needle_pairs(needle).iter().map(|p| term(self.fields.pairs, p)));
                if literal.is_empty() || prefix.is_empty() {
                    return Ok(None);
                }
                vec![literal, prefix]
            }
        };
        let index = self.org(org)?;
        // The sequence number before the searcher: the searcher is at least as new (a commit
        // reloads the reader before it advances the number), so nothing falls between the two.
        let through_seq = index.seq.load(Ordering::Acquire);
        let behind = index.head.load(Ordering::Acquire).saturating_sub(through_seq).max(0);
        if usize::try_from(behind).unwrap_or(usize::MAX) > max {
            return Ok(None);
        }
        let mut found: Vec<(i64, i64)> = Vec::new();
        for reading in readings {
            let mut clauses = filter_clauses(&self.fields, filter, now);
            clauses.extend(reading);
            let Some(more) = matching_times_at_most(&index, &BooleanQuery::new(clauses), max)? else {
                return Ok(None);
            };
            found.extend(more);
        }
        found.sort_unstable();
        found.dedup();
        if found.len() > max {
            return Ok(None);
        }
        Ok(Some(Candidates { found, through_seq }))
    }

    /// The dimension of the org's vectors (0: it has none).
    pub fn vector_dim(&self, org: &str) -> Result<usize> {
        Ok(self.org(org)?.vectors.read().unwrap_or_else(PoisonError::into_inner).dim())
    }

    /// The keys of the memories that `filter` admits (as in [`FullText::search`]); None when it
    /// admits every memory (no filter). Read straight from each segment's key column, deleted
    /// documents skipped.
    fn admitted(&self, index: &OrgIndex, filter: &MemoryFilter, now: Timestamp) -> Result<Option<Vec<i64>>> {
        let unfiltered = MemoryFilter { content_contains: filter.content_contains.clone(), ..MemoryFilter::default() };
        if *filter == unfiltered {
            return Ok(None);
        }
        let mut clauses = filter_clauses(&self.fields, filter, now);
        if !clauses.iter().any(|(occur, _)| *occur == Occur::Must) {
            // Only exclusions (the REST surface's hidden types): they exclude from everything.
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        Ok(Some(matching_keys(index, &BooleanQuery::new(clauses))?))
    }

    /// The `k` memories of the org whose vectors are most similar to `query` (cosine), among
    /// those `filter` admits, best first; and how many admitted memories have no vector. Empty
    /// when the org has no vectors; InvalidArgument (`field`) when `query` has another dimension.
    pub fn nearest(
        &self,
        org: &str,
        field: &str,
        query: &[f32],
        filter: &MemoryFilter,
        now: Timestamp,
        k: usize,
    ) -> Result<Nearest> {
        let index = self.org(org)?;
        let admitted = self.admitted(&index, filter, now)?;
        let mut vectors = index.vectors.read().unwrap_or_else(PoisonError::into_inner);
        if vectors.len() == 0 {
            let unembedded = match &admitted {
                Some(keys) => keys.len() as u64,
                None => index.reader.searcher().num_docs(),
            };
            return Ok(Nearest { found: Vec::new(), unembedded });
        }
        if query.len() != vectors.dim() {
            return Err(Error::invalid(
                field,
                format!("has {} dimensions; this org's vectors have {}", query.len(), vectors.dim()),
            ));
        }
        let unit = vector::normalized(query);
        let wide = admitted.as_ref().map_or(vectors.len(), Vec::len) > crate::vectors::EXACT_MAX;
        if wide && !vectors.has_graph() && vectors.wants_graph() {
            drop(vectors);
            ensure_graph(&index);
            vectors = index.vectors.read().unwrap_or_else(PoisonError::into_inner);
        }
        let (found, without) = vectors.nearest(&unit, k, admitted.as_deref());
        let unembedded = match &admitted {
            Some(_) => without as u64,
            None => index.reader.searcher().num_docs().saturating_sub(vectors.len() as u64),
        };
        Ok(Nearest { found, unembedded })
    }

    /// The cosine similarity of each memory's vector to `query` (None: no vector).
    pub fn similarities(&self, org: &str, keys: &[i64], query: &[f32]) -> Result<Vec<Option<f32>>> {
        let index = self.org(org)?;
        let vectors = index.vectors.read().unwrap_or_else(PoisonError::into_inner);
        let unit = vector::normalized(query);
        Ok(keys.iter().map(|key| vectors.similarity(*key, &unit)).collect())
    }

    /// How many documents the org's index holds (deleted ones excluded).
    pub fn num_docs(&self, org: &str) -> Result<u64> {
        Ok(self.org(org)?.reader.searcher().num_docs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(agent: &str, content: &str) -> Memory {
        let now = engram_core::time::now();
        Memory {
            id: String::new(),
            org_id: "org".into(),
            agent_id: agent.into(),
            session_id: None,
            memory_type: MemoryType::Episodic,
            event_type: DEFAULT_EVENT_TYPE.into(),
            content: content.into(),
            metadata: Metadata::default(),
            tags: Vec::new(),
            importance: DEFAULT_IMPORTANCE,
            parent_id: None,
            dedup_key: String::new(),
            time: now,
            created_at: now,
            step: None,
            position: None,
            expires_at: None,
            access_count: 0,
            last_accessed_at: None,
            tier: engram_core::lifecycle::Tier::Hot,
            scope: None,
        }
    }

    fn candidates(index: &FullText, needle: &str, filter: &MemoryFilter, max: usize) -> Option<Candidates> {
        index.contains_candidates("org", &Needle::new(needle), filter, engram_core::time::now(), max).unwrap()
    }

    #[test]
    fn contains_candidates_hold_every_gram_of_the_needle() {
        let index = FullText::open(None).unwrap();
        let texts = [
            ("a", "Restarted Redis on prod-web-01"),
            ("a", "Restart the Redistribution"),
            ("b", "restart redis"),
            ("b", "Deployed the billing API"),
            ("a", "Fixed AUTH.go"),
        ];
        let memories: Vec<Memory> = texts.iter().map(|(agent, content)| memory(agent, content)).collect();
        let indexed: Vec<Indexed<'_>> =
            memories.iter().enumerate().map(|(i, m)| Indexed { key: i as i64 + 1, memory: m, vector: None }).collect();
        index.apply("org", &indexed, 5).unwrap();
        let all = MemoryFilter::default();
        let keys = |found: Option<Candidates>| {
            let mut keys: Vec<i64> = found.unwrap().found.into_iter().map(|(_, key)| key).collect();
            keys.sort_unstable();
            keys
        };

        // The matches: "Restart the Redistribution" holds every gram of both words, but not the
        // pair term of "restart redis" nor its literal grams.
        assert_eq!(keys(candidates(&index, "Restart Redis", &all, 100)), [1, 3]);
        assert_eq!(keys(candidates(&index, "auth.go", &all, 100)), [5]);
        assert!(keys(candidates(&index, "nowhere", &all, 100)).is_empty());
        let agent_b = MemoryFilter { agent: Some(AgentRef::Id("b".into())), ..Default::default() };
        assert_eq!(keys(candidates(&index, "Restart Redis", &agent_b, 100)), [3]);
        assert_eq!(candidates(&index, "redis", &all, 100).unwrap().through_seq, 5);
        let found = candidates(&index, "Restart Redis", &all, 100).unwrap().found;
        assert!(found.windows(2).all(|w| w[0] < w[1]), "ascending, once each: {found:?}");

        // The index cannot narrow: no word of three characters, too many candidates, or far
        // behind the store.
        assert_eq!(candidates(&index, "go on", &all, 100), None);
        assert_eq!(candidates(&index, "Restart Redis", &all, 1), None);
        index.saw_head("org", 5 + 101).unwrap();
        assert_eq!(candidates(&index, "auth.go", &all, 100), None);
        index.saw_head("org", 5 + 100).unwrap();
        assert!(candidates(&index, "auth.go", &all, 100).is_some());
    }
}
