//! Pieces shared by pages: who is signed in, the signed-in layout, form parts, tables, the
//! display of an item, forms posted by the page's script, and formats.

pub mod auth;
pub mod browser_clock;
pub mod correction_fields;
pub mod decision_fields;
pub mod form;
pub mod format;
pub mod item_display;
pub mod layout;
pub mod post_form;
pub mod table;
pub mod workflow_fields;
