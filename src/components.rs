//! Pieces shared by pages: the signed-in layout and form parts.

pub mod form;
pub mod format;
pub mod layout;
pub mod table;
