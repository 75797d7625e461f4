//! `engram export` and `engram import`: a store's rows as NDJSON, one record per line (OPERATIONS.md
//! "Backup and restore" documents the format), and `engram backup`'s call of the store's online
//! copy. The records are `engram_store::records`; this module adds the lines: the header first,
//! each record's `kind` and `cursor`, line numbers in errors.
//!
//! Export streams: a page of at most [`PAGE`] records at a time, written as it is read, so its
//! memory does not grow with the store. Every record line carries a cursor; `--after <cursor>`
//! continues with the record after it. Import reads line by line and writes [`BATCH`] records
//! per store call (idempotent, see `engram_store::ImportStore`).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::{Context as _, anyhow, bail};
use serde::{Deserialize, Serialize};

use engram_core::Error;
use engram_store::DynStore;
use engram_store::records::{ExportAfter, ExportKind, Imported, Record};

/// The `format` of the header line.
pub const FORMAT: &str = "engram-export";
/// The format's version: an import refuses a file of another version.
pub const VERSION: u32 = 1;
/// Records per page read by an export.
const PAGE: u32 = 500;
/// Records per store call of an import.
const BATCH: usize = 500;

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub kind: String,
    pub format: String,
    pub version: u32,
    /// When the export started, microseconds since the Unix epoch.
    pub exported_at: i64,
    /// The one org exported (None: every org).
    #[serde(default)]
    pub org: Option<String>,
    /// The cursor the export continued after (None: from the start).
    #[serde(default)]
    pub after: Option<String>,
}

/// A position in an export: a record of an org (by the org's key in the exporting store), of a
/// kind, at a position among that kind. Its text form is `<org key>/org` for an org record,
/// `<org key>/<kind>/<key>` for keyed records, `<org key>/message/<conversation key>.<seq>`, and
/// `<org key>/api_key/<key id>` and `<org key>/limits/<subject id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub org_key: i64,
    pub kind: ExportKind,
    pub after: ExportAfter,
}

impl Cursor {
    pub fn to_text(&self) -> String {
        let (org, kind) = (self.org_key, self.kind.as_str());
        match &self.after {
            ExportAfter::Start => format!("{org}/{kind}"),
            ExportAfter::Key(key) => format!("{org}/{kind}/{key}"),
            ExportAfter::Message(conversation, seq) => format!("{org}/{kind}/{conversation}.{seq}"),
            ExportAfter::Id(id) => format!("{org}/{kind}/{id}"),
        }
    }

    /// Parses a cursor written by an export; the error names `--after` and the rule.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let bad = |rule: &str| anyhow!("--after: {text:?} is not an export cursor: {rule}");
        let mut parts = text.splitn(3, '/');
        let org_key: i64 = parts.next().unwrap_or_default().parse().map_err(|_| bad("it starts with an org key"))?;
        let kind_name = parts.next().ok_or_else(|| bad("it has a kind after the org key"))?;
        let kind = ExportKind::parse(kind_name).ok_or_else(|| bad(&format!("{kind_name:?} is not a record kind")))?;
        let position = parts.next();
        let after = match (kind, position) {
            (ExportKind::Org, None) => ExportAfter::Start,
            (ExportKind::Org, Some(_)) | (_, None) => {
                return Err(bad("an org cursor has no position; every other one has one"));
            }
            (ExportKind::Message, Some(p)) => {
                let (conversation, seq) = p.split_once('.').ok_or_else(|| bad("a message position is key.seq"))?;
                let number = |s: &str| s.parse::<i64>().map_err(|_| bad("a message position is key.seq"));
                ExportAfter::Message(number(conversation)?, number(seq)?)
            }
            (ExportKind::ApiKey | ExportKind::Limits, Some(id)) if !id.is_empty() => ExportAfter::Id(id.to_owned()),
            (_, Some(p)) => ExportAfter::Key(p.parse().map_err(|_| bad("the position is an integer key"))?),
        };
        Ok(Self { org_key, kind, after })
    }
}

/// What an export or import did: records per kind (an import: created and already there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub created: BTreeMap<ExportKind, u64>,
    pub existing: BTreeMap<ExportKind, u64>,
    /// An export's last cursor.
    pub last_cursor: Option<String>,
}

impl Summary {
    /// One line, e.g. `3 org, 120 memory (2 existing)`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = ExportKind::ALL
            .iter()
            .filter_map(|kind| {
                let (created, existing) =
                    (self.created.get(kind).copied().unwrap_or(0), self.existing.get(kind).copied().unwrap_or(0));
                match (created, existing) {
                    (0, 0) => None,
                    (n, 0) => Some(format!("{n} {}", kind.as_str())),
                    (n, e) => Some(format!("{n} {} ({e} existing)", kind.as_str())),
                }
            })
            .collect();
        if parts.is_empty() { "nothing".to_owned() } else { parts.join(", ") }
    }
}

/// Writes one line: the record's JSON with its cursor first.
fn write_line(out: &mut impl Write, cursor: &Cursor, record: &Record) -> anyhow::Result<()> {
    let json = serde_json::to_vec(record).context("encoding a record")?;
    let rest = json.strip_prefix(b"{").ok_or_else(|| anyhow!("a record is not a JSON object"))?;
    out.write_all(b"{\"cursor\":")?;
    serde_json::to_writer(&mut *out, &cursor.to_text())?;
    out.write_all(b",")?;
    out.write_all(rest)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// `engram export`: every org's records (or `org`'s), after `after` when given, to `out`.
pub async fn export(
    store: &DynStore,
    org: Option<&str>,
    after: Option<&str>,
    out: &mut impl Write,
) -> anyhow::Result<Summary> {
    let resume = after.map(Cursor::parse).transpose()?;
    let header = Header {
        kind: "header".into(),
        format: FORMAT.into(),
        version: VERSION,
        exported_at: engram_core::time::to_micros(engram_core::time::now()),
        org: org.map(str::to_owned),
        after: after.map(str::to_owned),
    };
    serde_json::to_writer(&mut *out, &header)?;
    out.write_all(b"\n")?;
    let mut summary = Summary::default();
    for (org_key, org_record) in store.export_orgs(org).await? {
        // Where this org starts: at its org record, or after the cursor in it.
        let from = match &resume {
            Some(cursor) if org_key < cursor.org_key => continue,
            Some(cursor) if org_key == cursor.org_key => Some(cursor),
            _ => None,
        };
        let org_id = org_record.id.clone();
        if from.is_none() {
            let cursor = Cursor { org_key, kind: ExportKind::Org, after: ExportAfter::Start };
            write_line(out, &cursor, &Record::Org(org_record))?;
            summary.last_cursor = Some(cursor.to_text());
            *summary.created.entry(ExportKind::Org).or_default() += 1;
        }
        for kind in ExportKind::ALL.into_iter().skip(1) {
            let mut after = match from {
                Some(cursor) if kind < cursor.kind => continue,
                Some(cursor) if kind == cursor.kind => cursor.after.clone(),
                _ => ExportAfter::Start,
            };
            loop {
                let page = store.export_page(&org_id, kind, &after, PAGE).await?;
                let full = page.len() >= PAGE as usize;
                for (position, record) in page {
                    let cursor = Cursor { org_key, kind, after: position };
                    write_line(out, &cursor, &record)?;
                    *summary.created.entry(kind).or_default() += 1;
                    after = cursor.after;
                }
                if !full {
                    break;
                }
            }
            if after != ExportAfter::Start {
                summary.last_cursor = Some(Cursor { org_key, kind, after }.to_text());
            }
        }
    }
    out.flush()?;
    Ok(summary)
}

/// A line's record, or an error naming the line, the kind and the field.
fn parse_line(number: usize, line: &str, first: bool) -> anyhow::Result<Option<Record>> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| anyhow!("line {number}: not JSON ({e}); a line cut short?"))?;
    let serde_json::Value::Object(mut fields) = value else { bail!("line {number}: not a JSON object") };
    let kind = match fields.get("kind") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        Some(_) => bail!("line {number}: kind: must be a string"),
        None => bail!("line {number}: kind: missing"),
    };
    if kind == "header" {
        let header: Header = serde_path_to_error::deserialize(serde_json::Value::Object(fields))
            .map_err(|e| anyhow!("line {number}: header.{}: {}", e.path(), e.inner()))?;
        if header.format != FORMAT {
            bail!("line {number}: header.format: is {:?}; an engram export is {FORMAT:?}", header.format);
        }
        if header.version != VERSION {
            bail!(
                "line {number}: header.version: is {}; this engram reads version {VERSION} (use the engram release that \
                 wrote it)",
                header.version
            );
        }
        return Ok(None);
    }
    if first {
        bail!("line {number}: kind: is {kind:?}; the first line of an export is its header (kind \"header\")");
    }
    let Some(kind) = ExportKind::parse(&kind) else {
        let kinds: Vec<&str> = ExportKind::ALL.iter().map(|k| k.as_str()).collect();
        bail!("line {number}: kind: {kind:?} is not a record kind ({})", kinds.join(", "));
    };
    fields.remove("cursor");
    fields.remove("kind");
    let value = serde_json::Value::Object(fields);
    let record = match kind {
        ExportKind::Org => typed(value).map(Record::Org),
        ExportKind::Agent => typed(value).map(Record::Agent),
        ExportKind::Session => typed(value).map(Record::Session),
        ExportKind::Memory => typed(value).map(Record::Memory),
        ExportKind::Conversation => typed(value).map(Record::Conversation),
        ExportKind::Message => typed(value).map(Record::Message),
        ExportKind::WorkingMemory => typed(value).map(Record::WorkingMemory),
        ExportKind::ApiKey => typed(value).map(Record::ApiKey),
        ExportKind::Limits => typed(value).map(Record::Limits),
    };
    record.map(Some).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { format!(".{path}") };
        anyhow!("line {number}: {}{field}: {}", kind.as_str(), e.inner())
    })
}

/// A record's fields as its type, or the error with the path of the field at fault.
fn typed<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize(value)
}

/// `engram import`: the records of `input` (an export) into the store.
pub async fn import(store: &DynStore, input: impl BufRead) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut batch: Vec<Record> = Vec::with_capacity(BATCH);
    let mut lines: Vec<usize> = Vec::with_capacity(BATCH);
    let mut first = true;
    for (i, line) in input.lines().enumerate() {
        let number = i + 1;
        let line = line.with_context(|| format!("line {number}: cannot be read (not UTF-8?)"))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = parse_line(number, &line, first)?;
        first = false;
        let Some(record) = record else { continue };
        batch.push(record);
        lines.push(number);
        if batch.len() >= BATCH {
            write_batch(store, &mut batch, &mut lines, &mut summary).await?;
        }
    }
    if first {
        bail!("line 1: the input is empty; an export starts with its header line");
    }
    write_batch(store, &mut batch, &mut lines, &mut summary).await?;
    // Everything is imported by now: a failed ANALYZE leaves the reads to autovacuum's statistics.
    if let Err(err) = store.refresh_statistics().await {
        tracing::warn!(error = %err, "the import is complete, but ANALYZE of the database failed: run it by hand");
    }
    Ok(summary)
}

async fn write_batch(
    store: &DynStore,
    batch: &mut Vec<Record>,
    lines: &mut Vec<usize>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let kinds: Vec<ExportKind> = batch.iter().map(Record::kind).collect();
    let records = std::mem::take(batch);
    let numbers = std::mem::take(lines);
    match store.import_records(records).await {
        Ok(done) => {
            for (kind, imported) in kinds.into_iter().zip(done) {
                let counts = match imported {
                    Imported::Created => &mut summary.created,
                    Imported::Existing => &mut summary.existing,
                };
                *counts.entry(kind).or_default() += 1;
            }
            Ok(())
        }
        Err(Error::InvalidItem { index, field, rule }) => {
            let (number, kind) = (numbers.get(index).copied().unwrap_or(0), kinds.get(index).copied());
            let kind = kind.map(ExportKind::as_str).unwrap_or("record");
            bail!(
                "line {number}: {kind}.{field}: {rule} (the lines before it are imported; fix it and import again: \
                 lines already imported are skipped)"
            )
        }
        Err(err) => {
            Err(anyhow!(err).context(format!("importing lines {}..={}", numbers[0], numbers[numbers.len() - 1])))
        }
    }
}

/// `engram backup`: the embedded store's SQLite file copied online to `output`. Returns its size.
pub async fn backup(database_url: &str, output: &std::path::Path) -> anyhow::Result<u64> {
    if engram_store::Backend::of_url(database_url)? != engram_store::Backend::Sqlite {
        bail!(
            "engram backup copies the embedded SQLite store; for PostgreSQL use pg_dump (or engram export, which \
             works on both)"
        );
    }
    let (url, output) = (database_url.to_owned(), output.to_owned());
    let size = tokio::task::spawn_blocking(move || engram_store::backup_sqlite(&url, &output))
        .await
        .context("the backup thread failed")??;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_name_the_flag() {
        for text in [
            "3/org",
            "3/memory/1042",
            "12/message/7.33",
            "1/api_key/key_0123abcd",
            "2/working_memory/9",
            "4/limits/org_0123",
        ] {
            assert_eq!(Cursor::parse(text).unwrap().to_text(), text);
        }
        for bad in ["", "x/org", "3", "3/memories/1", "3/memory", "3/org/1", "3/message/7", "3/agent/x"] {
            let err = Cursor::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("--after: "), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_lines_name_the_line_and_the_field() {
        let header = r#"{"kind":"header","format":"engram-export","version":1,"exported_at":0}"#;
        assert!(parse_line(1, header, true).unwrap().is_none());
        let cases = [
            (
                r#"{"kind":"org","id":"org_a","name":"a","created_at":1}"#,
                true,
                "line 4: kind: is \"org\"; the first line",
            ),
            ("{\"kind\":\"org\",", false, "line 4: not JSON"),
            ("[1]", false, "line 4: not a JSON object"),
            (r#"{"id":"x"}"#, false, "line 4: kind: missing"),
            (r#"{"kind":"orgs"}"#, false, "line 4: kind: \"orgs\" is not a record kind"),
            (
                r#"{"kind":"org","id":"org_a","name":"a","created_at":"yesterday"}"#,
                false,
                "line 4: org.created_at: invalid type",
            ),
            (r#"{"kind":"org","id":"org_a","created_at":1}"#, false, "line 4: org: missing field `name`"),
            (
                r#"{"kind":"org","id":"org_a","name":"a","created_at":1,"colour":2}"#,
                false,
                "line 4: org.colour: unknown field `colour`",
            ),
            (r#"{"kind":"header","format":"other","version":1,"exported_at":0}"#, false, "line 4: header.format"),
            (
                r#"{"kind":"header","format":"engram-export","version":2,"exported_at":0}"#,
                false,
                "line 4: header.version",
            ),
        ];
        for (line, first, expected) in cases {
            let err = parse_line(4, line, first).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{line}: {err}");
        }
        let nested = r#"{"kind":"memory","cursor":"1/memory/1","org":"o","id":"m","key":1,"agent":"a","memory_type":"episodic","event_type":"e","content":"c","tags":["a",7],"importance":0.5,"time":1,"created_at":1,"tier":"hot"}"#;
        let err = parse_line(9, nested, false).unwrap_err().to_string();
        assert!(err.starts_with("line 9: memory.tags[1]: invalid type"), "{err}");
        let record = r#"{"kind":"org","cursor":"1/org","id":"org_a","name":"a","created_at":1}"#;
        assert!(matches!(parse_line(2, record, false).unwrap(), Some(Record::Org(o)) if o.id == "org_a"));
    }
}
