//! The front end's files (`pkg/gatehouse.{js,wasm,css}`), served under a path that names their
//! content, `/pkg/<fingerprint>/…`, so that a browser may keep them for a year without asking
//! again: a new build has a new fingerprint, and pages link to it. Each file is sent as the
//! brotli or gzip copy the site build made beside it when the browser accepts one.

use axum::Router;
use axum::http::{HeaderValue, header};
use sha2::{Digest, Sha256};
use std::path::Path;
use tower_http::services::ServeDir;
use tower_http::services::fs::ServeFileSystemResponseBody;

/// The files the fingerprint covers: everything a page loads from `pkg/`.
const FILES: [&str; 3] = ["gatehouse.js", "gatehouse.wasm", "gatehouse.css"];

/// What fingerprinted files are sent with: cached for a year, never revalidated.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A digest of the front end's files under `site_root/pkg`, 16 hex characters; "unbuilt" when
/// they are missing (the pages still render, without their script and style).
pub fn fingerprint(site_root: &Path) -> String {
    let pkg = site_root.join("pkg");
    let mut digest = Sha256::new();
    for file in FILES {
        match std::fs::read(pkg.join(file)) {
            Ok(bytes) => {
                digest.update(file.as_bytes());
                digest.update((bytes.len() as u64).to_le_bytes());
                digest.update(&bytes);
            }
            Err(error) => {
                tracing::warn!(%error, file, "front-end file missing: pages will not be interactive");
                return "unbuilt".to_owned();
            }
        }
    }
    hex::encode(&digest.finalize()[..8])
}

/// The folder, relative to the site root, that pages load the front end from.
pub fn pkg_dir(fingerprint: &str) -> String {
    format!("pkg/{fingerprint}")
}

/// Serves `site_root/pkg` at `/pkg/<fingerprint>`: precompressed copies first, and a successful
/// answer marked immutable (a missing file is not, so a later build may still fill it).
pub fn router<S: Clone + Send + Sync + 'static>(site_root: &Path, fingerprint: &str) -> Router<S> {
    let files = ServeDir::new(site_root.join("pkg")).precompressed_br().precompressed_gzip();
    let service = tower::ServiceBuilder::new()
        .map_response(|mut response: axum::http::Response<ServeFileSystemResponseBody>| {
            if response.status().is_success() {
                response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
            }
            response
        })
        .service(files);
    Router::new().nest_service(&format!("/{}", pkg_dir(fingerprint)), service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_the_content() {
        let dir = std::env::temp_dir().join(format!("gatehouse-assets-{}", std::process::id()));
        let pkg = dir.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        assert_eq!(fingerprint(&dir), "unbuilt");
        for file in FILES {
            std::fs::write(pkg.join(file), file).unwrap();
        }
        let first = fingerprint(&dir);
        assert_eq!(first.len(), 16);
        assert_eq!(fingerprint(&dir), first, "the same files, the same fingerprint");
        std::fs::write(pkg.join("gatehouse.css"), "body { color: red }").unwrap();
        assert_ne!(fingerprint(&dir), first, "a changed file, a new fingerprint");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
