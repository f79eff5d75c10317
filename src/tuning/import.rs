//! History import: a team adopting Gatehouse sends its past items, one JSON object a line, so
//! that tuning starts with evidence. The body is read as it arrives (one line in memory at a
//! time, rows written in batches), in one transaction: a bad line anywhere refuses the whole
//! import, with the line numbers. Ids already imported are skipped, so importing again is
//! harmless.

use crate::domain::text::is_one_line;
use crate::domain::tuning::{Counts, bin_of, stratum_of};
use crate::error::AppError;
use crate::storage::clock::now_ms;
use crate::storage::db::{Db, WriteTransaction};
use axum::body::Body;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The most lines one import takes.
pub const MAX_LINES: usize = 1_000_000;
/// The longest line taken (a past item is a few short fields).
pub const MAX_LINE_BYTES: usize = 4096;
/// Bad lines listed in a refusal (all are counted).
const LISTED: usize = 100;
/// Rows a statement inserts.
const BATCH: usize = 1000;

/// A past human verdict on the model's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Right,
    Wrong,
}

/// One line of an import.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryLine {
    pub external_id: String,
    pub confidence: f64,
    #[serde(default)]
    pub model_version: Option<String>,
    /// `null`: routed but never reviewed.
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// The chance it had of being seen by a person when it was routed.
    pub review_probability: f64,
}

impl HistoryLine {
    fn check(&self) -> Result<(), String> {
        if self.external_id.is_empty() || self.external_id.len() > 200 || !is_one_line(&self.external_id) {
            return Err("external_id must be 1 to 200 characters on one line, without control characters".into());
        }
        if let Some(v) = &self.model_version
            && (v.len() > 100 || !is_one_line(v))
        {
            return Err("model_version must be at most 100 characters on one line".into());
        }
        if !(self.confidence.is_finite() && (0.0..=1.0).contains(&self.confidence)) {
            return Err(format!("confidence must be between 0 and 1 (was {})", self.confidence));
        }
        if !(self.review_probability.is_finite() && (0.0..=1.0).contains(&self.review_probability)) {
            return Err(format!("review_probability must be between 0 and 1 (was {})", self.review_probability));
        }
        if self.verdict.is_some() && self.review_probability == 0.0 {
            return Err("an item with a verdict was reviewed: its review_probability cannot be 0".into());
        }
        Ok(())
    }
}

/// A refused line.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BadLine {
    pub line: usize,
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Imported {
    /// Lines read.
    pub lines: usize,
    /// Past items stored by this import.
    pub imported: usize,
    /// Lines whose external id was already imported (skipped).
    pub already_present: usize,
}

/// Why an import was refused: nothing of it was stored.
#[derive(Debug)]
pub enum ImportError {
    Lines { bad: Vec<BadLine>, count: usize },
    Other(AppError),
}

impl From<AppError> for ImportError {
    fn from(e: AppError) -> Self {
        Self::Other(e)
    }
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        Self::Other(e.into())
    }
}

type Key = (String, u32, u32);

/// One import under way, inside its transaction.
struct Importer<'a> {
    db: &'a Db,
    tx: WriteTransaction<'static>,
    workflow_id: i64,
    now: i64,
    /// Lines read, blank ones included (the numbers a refusal gives).
    line_no: usize,
    /// Lines that held a past item.
    items: usize,
    imported: usize,
    pending: Vec<HistoryLine>,
    counts: HashMap<Key, Counts>,
    bad: Vec<BadLine>,
    bad_count: usize,
}

impl Importer<'_> {
    fn refuse(&mut self, line: usize, message: String) {
        self.bad_count += 1;
        if self.bad.len() < LISTED {
            self.bad.push(BadLine { line, message });
        }
    }

    async fn line(&mut self, raw: &[u8]) -> Result<(), ImportError> {
        self.line_no += 1;
        if self.line_no > MAX_LINES {
            return Err(AppError::invalid(
                "body",
                format!("An import takes at most {MAX_LINES} lines; split it and send the rest after."),
            )
            .into());
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        self.items += 1;
        let line = match serde_json::from_slice::<HistoryLine>(raw) {
            Ok(line) => line,
            Err(e) => {
                self.refuse(self.line_no, format!("not a history line: {e}"));
                return Ok(());
            }
        };
        if let Err(message) = line.check() {
            self.refuse(self.line_no, message);
            return Ok(());
        }
        // Once a line is refused nothing will be stored: the rest is only checked.
        if self.bad.is_empty() {
            self.pending.push(line);
            if self.pending.len() == BATCH {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ImportError> {
        if !self.pending.is_empty() {
            self.imported +=
                insert(&mut self.tx, self.db, self.workflow_id, &self.pending, self.now, &mut self.counts).await?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// Reads the body line by line into workflow `workflow_id`'s history, in one transaction.
pub async fn import(db: &Db, workflow_id: i64, body: Body) -> Result<Imported, ImportError> {
    let mut stream = body.into_data_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let tx = db.begin_write().await?;
    let mut importer = Importer {
        db,
        tx,
        workflow_id,
        now: now_ms(),
        line_no: 0,
        items: 0,
        imported: 0,
        pending: Vec::with_capacity(BATCH),
        counts: HashMap::new(),
        bad: Vec::new(),
        bad_count: 0,
    };
    loop {
        let done = match stream.next().await {
            Some(Ok(chunk)) => {
                buffer.extend_from_slice(&chunk);
                false
            }
            Some(Err(e)) => {
                return Err(AppError::BadRequest { message: format!("The body could not be read: {e}") }.into());
            }
            None => true,
        };
        let mut start = 0;
        while let Some(at) = buffer[start..].iter().position(|b| *b == b'\n') {
            importer.line(&buffer[start..start + at]).await?;
            start += at + 1;
        }
        buffer.drain(..start);
        if done {
            if !buffer.is_empty() {
                importer.line(&buffer).await?;
            }
            break;
        }
        if buffer.len() > MAX_LINE_BYTES {
            let line = importer.line_no + 1;
            importer.refuse(line, format!("the line is longer than {MAX_LINE_BYTES} bytes"));
            return Err(ImportError::Lines { bad: importer.bad, count: importer.bad_count });
        }
    }
    if !importer.bad.is_empty() {
        // Dropping the transaction rolls back what was written.
        return Err(ImportError::Lines { bad: importer.bad, count: importer.bad_count });
    }
    importer.flush().await?;
    let Importer { mut tx, counts, line_no, items, imported, .. } = importer;
    add_evidence(&mut tx, db, workflow_id, counts).await?;
    tx.commit().await?;
    Ok(Imported { lines: line_no, imported, already_present: items - imported })
}

/// A history line as stored, what the evidence counts of it.
#[derive(sqlx::FromRow)]
struct StoredLine {
    confidence: f64,
    model_version: String,
    verdict: Option<String>,
    review_probability: f64,
}

/// Inserts a batch, skipping ids already there; counts what it stored.
async fn insert(
    tx: &mut WriteTransaction<'static>,
    db: &Db,
    workflow_id: i64,
    lines: &[HistoryLine],
    now: i64,
    counts: &mut HashMap<Key, Counts>,
) -> Result<usize, ImportError> {
    let sql = format!(
        "insert into history_items (workflow_id, external_id, confidence, model_version, verdict, \
         review_probability, imported_at) values {} on conflict (workflow_id, external_id) do nothing \
         returning confidence, model_version, verdict, review_probability",
        db.backend().values(lines.len(), "(?, ?, ?, ?, ?, ?, ?)")
    );
    // A full batch is one text, used again and again; the last of an import has any size, and
    // kept it would only push others out of the connection's statement cache.
    let keep = lines.len() == BATCH || db.backend().keeps_prepared(lines.len());
    let mut query = sqlx::query_as::<_, StoredLine>(&sql).persistent(keep);
    for line in lines {
        query = query
            .bind(workflow_id)
            .bind(&line.external_id)
            .bind(line.confidence)
            .bind(line.model_version.clone().unwrap_or_default())
            .bind(line.verdict.map(|v| if v == Verdict::Right { "right" } else { "wrong" }))
            .bind(line.review_probability)
            .bind(now);
    }
    let stored = query.fetch_all(&mut **tx).await?;
    let n = stored.len();
    for line in stored {
        let key = (line.model_version, bin_of(line.confidence), stratum_of(line.review_probability));
        let entry = counts.entry(key).or_default();
        entry.volume += 1;
        if let Some(v) = line.verdict {
            entry.reviewed += 1;
            entry.wrong += u64::from(v == "wrong");
        }
    }
    Ok(n)
}

/// Adds the stored lines' counts to the evidence.
async fn add_evidence(
    tx: &mut WriteTransaction<'static>,
    db: &Db,
    workflow_id: i64,
    counts: HashMap<Key, Counts>,
) -> Result<(), ImportError> {
    let cells: Vec<(Key, Counts)> = counts.into_iter().collect();
    for chunk in cells.chunks(500) {
        let sql = format!(
            "insert into tuning_evidence (workflow_id, model_version, bin, stratum, volume, reviewed, wrong) values {} \
             on conflict (workflow_id, model_version, bin, stratum, shard) do update set \
             volume = tuning_evidence.volume + excluded.volume, reviewed = tuning_evidence.reviewed + excluded.reviewed, \
             wrong = tuning_evidence.wrong + excluded.wrong",
            db.backend().values(chunk.len(), "(?, ?, ?, ?, ?, ?, ?)")
        );
        let mut query = sqlx::query(&sql).persistent(db.backend().keeps_prepared(chunk.len()));
        for ((model_version, bin, stratum), c) in chunk {
            let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            query = query
                .bind(workflow_id)
                .bind(model_version)
                .bind(i64::from(*bin))
                .bind(i64::from(*stratum))
                .bind(signed(c.volume))
                .bind(signed(c.reviewed))
                .bind(signed(c.wrong));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
