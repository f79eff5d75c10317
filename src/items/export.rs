//! Exporting a workflow's decided items, the team's training data: every item with a final
//! outcome, its input, the model's prediction, the output it settled on (the correction, where a
//! person corrected it), the final decision's reason code and note, and who decided. Streamed as
//! JSON lines or CSV a page of rows at a time by id (keyset pages, no transaction held open), so
//! memory stays the same whatever the size of the export.

use crate::error::AppError;
use crate::storage::clock::rfc3339;
use crate::storage::db::Db;
use axum::body::Bytes;
use futures_util::Stream;
use serde::Serialize;

/// Rows read and written at a time.
const PAGE: i64 = 2_000;

/// What an export is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

impl Format {
    pub fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        match raw.map(str::trim).unwrap_or("jsonl") {
            "jsonl" | "" => Ok(Format::JsonLines),
            "csv" => Ok(Format::Csv),
            other => Err(AppError::invalid("format", format!("'{other}' is not a format: jsonl or csv."))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::JsonLines => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::JsonLines => "jsonl",
            Format::Csv => "csv",
        }
    }
}

/// Which items: those of `workflow_id` that arrived in `[from, to)` (Unix ms) and have an outcome.
#[derive(Debug, Clone, Copy)]
pub struct Export {
    pub workflow_id: i64,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub format: Format,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    external_id: String,
    created_at: i64,
    decided_at: Option<i64>,
    confidence: f64,
    model_version: Option<String>,
    route_reason: String,
    outcome: String,
    payload: String,
    prediction: String,
    final_output: Option<String>,
    decided_by: Option<String>,
    reason_code: Option<String>,
    note: Option<String>,
}

/// One exported item, as a JSON line.
#[derive(Serialize)]
struct Line<'a> {
    id: i64,
    external_id: &'a str,
    created_at: String,
    decided_at: Option<String>,
    confidence: f64,
    model_version: Option<&'a str>,
    route_reason: &'a str,
    outcome: &'a str,
    decided_by: Option<&'a str>,
    reason_code: Option<&'a str>,
    note: Option<&'a str>,
    payload: Box<serde_json::value::RawValue>,
    prediction: Box<serde_json::value::RawValue>,
    final_output: Option<Box<serde_json::value::RawValue>>,
}

/// The CSV's columns, in order.
pub const CSV_COLUMNS: [&str; 14] = [
    "id",
    "external_id",
    "created_at",
    "decided_at",
    "confidence",
    "model_version",
    "route_reason",
    "outcome",
    "decided_by",
    "reason_code",
    "note",
    "payload",
    "prediction",
    "final_output",
];

/// One CSV cell: quoted when it holds a comma, quote or line break, and neutralised when a
/// spreadsheet would take it for a formula (it starts with `=`, `+`, `-`, `@`, a tab or a
/// carriage return): a leading `'` makes it text.
pub fn csv_cell(value: &str) -> String {
    let value =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

fn raw(json: &str) -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(json.to_owned())
        .unwrap_or_else(|_| serde_json::value::to_raw_value(json).unwrap_or_default())
}

fn write_row(out: &mut String, format: Format, row: &Row) {
    match format {
        Format::JsonLines => {
            let line = Line {
                id: row.id,
                external_id: &row.external_id,
                created_at: rfc3339(row.created_at),
                decided_at: row.decided_at.map(rfc3339),
                confidence: row.confidence,
                model_version: row.model_version.as_deref(),
                route_reason: &row.route_reason,
                outcome: &row.outcome,
                decided_by: row.decided_by.as_deref(),
                reason_code: row.reason_code.as_deref(),
                note: row.note.as_deref(),
                payload: raw(&row.payload),
                prediction: raw(&row.prediction),
                final_output: row.final_output.as_deref().map(raw),
            };
            if let Ok(text) = serde_json::to_string(&line) {
                out.push_str(&text);
                out.push('\n');
            }
        }
        Format::Csv => {
            let cells = [
                row.id.to_string(),
                csv_cell(&row.external_id),
                rfc3339(row.created_at),
                row.decided_at.map(rfc3339).unwrap_or_default(),
                row.confidence.to_string(),
                csv_cell(row.model_version.as_deref().unwrap_or_default()),
                csv_cell(&row.route_reason),
                csv_cell(&row.outcome),
                csv_cell(row.decided_by.as_deref().unwrap_or_default()),
                csv_cell(row.reason_code.as_deref().unwrap_or_default()),
                csv_cell(row.note.as_deref().unwrap_or_default()),
                csv_cell(&row.payload),
                csv_cell(&row.prediction),
                csv_cell(row.final_output.as_deref().unwrap_or_default()),
            ];
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
    }
}

/// The rows after `after` (by id), a page.
async fn page(db: &Db, export: &Export, after: i64) -> Result<Vec<Row>, AppError> {
    // The final decision is the item's newest one that settled it (an undone one is followed by
    // the one that settled it again, or the item has no outcome and is not exported).
    Ok(sqlx::query_as(
        "select i.id, i.external_id, i.created_at, i.decided_at, i.confidence, i.model_version, i.route_reason, \
           i.outcome, i.payload, i.prediction, i.final_output, d.actor_label as decided_by, d.reason_code, d.note \
         from items i \
         left join decisions d on d.id = (select max(f.id) from decisions f where f.item_id = i.id and f.final = 1) \
         where i.workflow_id = $1 and i.id > $2 and i.outcome is not null \
           and i.created_at >= $3 and i.created_at < $4 \
         order by i.id limit $5",
    )
    .bind(export.workflow_id)
    .bind(after)
    .bind(export.from.unwrap_or(i64::MIN))
    .bind(export.to.unwrap_or(i64::MAX))
    .bind(PAGE)
    .fetch_all(db.pool())
    .await?)
}

/// The export as a stream of chunks (the CSV's header first), each a page of rows. A failure
/// part-way ends the stream with an error, so that the client sees a broken download rather than
/// a short one that looks whole.
pub fn stream(db: Db, export: Export) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    enum Next {
        Header,
        After(i64),
        Done,
    }
    futures_util::stream::unfold(Next::Header, move |next| {
        let db = db.clone();
        async move {
            let after = match next {
                Next::Done => return None,
                Next::Header if export.format == Format::Csv => {
                    let header = format!("{}\r\n", CSV_COLUMNS.join(","));
                    return Some((Ok(Bytes::from(header)), Next::After(0)));
                }
                Next::Header => 0,
                Next::After(id) => id,
            };
            match page(&db, &export, after).await {
                Err(error) => {
                    tracing::error!(%error, "an export failed part-way");
                    Some((Err(std::io::Error::other("the export could not be read")), Next::Done))
                }
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let mut out = String::with_capacity(rows.len() * 512);
                    for row in &rows {
                        write_row(&mut out, export.format, row);
                    }
                    let last = rows.last().map_or(after, |r| r.id);
                    let next = if (rows.len() as i64) < PAGE { Next::Done } else { Next::After(last) };
                    Some((Ok(Bytes::from(out)), next))
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "'\tx");
    }

    #[test]
    fn formats_parse() {
        assert_eq!(Format::parse(None).unwrap(), Format::JsonLines);
        assert_eq!(Format::parse(Some("csv")).unwrap(), Format::Csv);
        assert!(matches!(Format::parse(Some("xlsx")), Err(AppError::Invalid { .. })));
    }
}
