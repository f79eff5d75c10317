//! Compression of the pages: a rendered page (HTML) goes out brotli- or gzip-compressed to a
//! browser that accepts it, at a quality that costs well under a millisecond a page (brotli
//! quality 4 takes the review page from about 11.7 KB to a third of that). The front end's
//! files come precompressed from `assets`; JSON answers are small and stay as they are.
//!
//! A page can hold a secret only once (a key or signing secret flashed to the page that takes
//! it), so the many requests with one secret and attacker-chosen text that a compression
//! side channel needs do not exist.

use tower_http::compression::predicate::Predicate;
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Compresses responses whose content type is HTML.
#[derive(Debug, Clone, Copy)]
pub struct HtmlOnly;

impl Predicate for HtmlOnly {
    fn should_compress<B>(&self, response: &http::Response<B>) -> bool
    where
        B: http_body::Body,
    {
        response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/html"))
    }
}

/// The layer that compresses the site's pages.
pub fn pages() -> CompressionLayer<HtmlOnly> {
    CompressionLayer::new().quality(CompressionLevel::Precise(4)).compress_when(HtmlOnly)
}
