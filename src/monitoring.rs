//! Monitoring: what the system is doing, per workflow and model version, over time.
//!
//! The database keeps hourly rollups as items, decisions and escalations are written (migration
//! 0013's triggers); [`stats`] reads them into a workflow's numbers over a range, which [`rest`]
//! serves to admin-scoped keys and [`dashboard`] words for the dashboard page (leads and admins;
//! its numbers read as `wording` has them), with [`charts`] drawn on the server; [`api`] is the
//! page's server function. [`gauges`] sets what `GET /metrics` reports of the database at each
//! scrape.

pub mod api;
#[cfg(feature = "ssr")]
pub mod charts;
#[cfg(feature = "ssr")]
pub mod dashboard;
#[cfg(feature = "ssr")]
pub mod gauges;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod stats;
#[cfg(feature = "ssr")]
mod wording;

use serde::{Deserialize, Serialize};

/// A table of text, already worded: its caption, column names and rows (the first cell of each
/// row is its header).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextTable {
    pub caption: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// A chart drawn on the server, with the numbers it shows as a table beneath.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub id: String,
    pub heading: String,
    pub note: String,
    pub svg: String,
    pub table: TextTable,
}

/// One headline number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tile {
    pub label: String,
    pub value: String,
    pub note: String,
    /// `ok`, `warn` or empty: how the tile is marked (its note says it in words too).
    pub tone: String,
}

/// The dashboard as the server words it: every number formatted and every chart drawn, so the
/// browser's bundle carries none of the arithmetic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DashboardPage {
    /// `(slug, name)` of every workflow the caller answers for.
    pub workflows: Vec<(String, String)>,
    pub slug: String,
    pub workflow: String,
    /// `(value, label)` of the model versions with items in the range; the first is "all".
    pub model_versions: Vec<(String, String)>,
    pub model_version: String,
    /// `24h`, `7d`, `30d` or `custom`.
    pub range: String,
    /// The custom range's dates as the form shows them (YYYY-MM-DD, UTC).
    pub from: String,
    pub to: String,
    /// The range in words.
    pub caption: String,
    pub tiles: Vec<Tile>,
    pub charts: Vec<Chart>,
    /// `(id, heading, table)` of the tables without a chart.
    pub tables: Vec<(String, String, TextTable)>,
    /// The link to the same numbers as JSON (for an admin-scoped API key).
    pub api_path: String,
}
