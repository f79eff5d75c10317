//! The machine API's reference for people: `/docs/api` shows the endpoints of the generated
//! OpenAPI document.

pub mod api;

use serde::{Deserialize, Serialize};

/// One endpoint of the machine API, as the reference page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointDoc {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub params: Vec<(String, String, String)>,
    pub responses: Vec<(String, String)>,
}
