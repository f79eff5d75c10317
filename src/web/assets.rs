//! The front end's files (`pkg/gatehouse.{js,wasm,css}`, and the chunks the splitter cut from
//! the WebAssembly with their loader and manifest), served under a path that names their
//! content, `/pkg/<fingerprint>/…`, so that a browser may keep them for a year without asking
//! again: a new build has a new fingerprint, and pages link to it. Each file is sent as the
//! brotli or gzip copy the site build made beside it when the browser accepts one.

use axum::Router;
use axum::http::{HeaderValue, header};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use tower_http::services::ServeDir;
use tower_http::services::fs::ServeFileSystemResponseBody;

/// The files without which no page is interactive.
const REQUIRED: [&str; 3] = ["gatehouse.js", "gatehouse.wasm", "gatehouse.css"];

/// The splitter's manifest: for each lazy function, the chunks it needs.
const SPLIT_MANIFEST: &str = "__wasm_split_manifest.json";

/// The splitter's loader, as the main module imports it.
const SPLIT_LOADER: &str = "__wasm_split.______________________.js";

/// What fingerprinted files are sent with: cached for a year, never revalidated.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A digest of the front end's files under `site_root/pkg` (every file but the compressed
/// copies, which follow from the others), 16 hex characters; "unbuilt" when a required one is
/// missing (the pages still render, without their script and style).
pub fn fingerprint(site_root: &Path) -> String {
    let pkg = site_root.join("pkg");
    if let Some(file) = REQUIRED.iter().find(|file| !pkg.join(file).is_file()) {
        tracing::warn!(file, "front-end file missing: pages will not be interactive");
        return "unbuilt".to_owned();
    }
    let mut names: Vec<String> = std::fs::read_dir(&pkg)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !name.ends_with(".br") && !name.ends_with(".gz"))
        .collect();
    names.sort();
    let mut digest = Sha256::new();
    for name in names {
        let Ok(bytes) = std::fs::read(pkg.join(&name)) else {
            return "unbuilt".to_owned();
        };
        digest.update(name.as_bytes());
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(&bytes);
    }
    hex::encode(&digest.finalize()[..8])
}

/// The chunks each group of lazy pages needs (`src/app.rs`), read from the splitter's manifest
/// at start, for a page to name in its head (`<link rel="preload">`) so that the browser fetches
/// them beside the main module instead of after it. Leptos can name them itself, but it looks
/// for the manifest under the package folder with the fingerprint the files are not stored
/// under, and it records a page's lazy functions from wherever they first run, which on the
/// server is at times a task of its own that misses the render (a page named its chunks on one
/// request and not the next); the lazy routes name their group here instead, as they are
/// matched.
#[derive(Clone, Debug)]
pub struct PageChunks {
    /// Lazy function's name (the manifest's key without its `_<digits>`) -> the addresses of
    /// the files it needs: its chunks, then the loader that fetches them.
    files: std::sync::Arc<HashMap<String, Vec<String>>>,
}

impl PageChunks {
    /// None for a front end built without chunks, or an unreadable manifest (pages then fetch
    /// their chunks one step later, which is all they lose).
    pub fn read(site_root: &Path, fingerprint: &str) -> Option<Self> {
        let text = std::fs::read_to_string(site_root.join("pkg").join(SPLIT_MANIFEST)).ok()?;
        let manifest: HashMap<String, Vec<String>> = match serde_json::from_str(&text) {
            Ok(manifest) => manifest,
            Err(error) => {
                tracing::warn!(%error, "unreadable {SPLIT_MANIFEST}: pages will fetch their chunks late");
                return None;
            }
        };
        let folder = format!("/{}", pkg_dir(fingerprint));
        let files = manifest
            .into_iter()
            .filter_map(|(key, chunks)| {
                // `#[lazy]` names a function `<name>_<hash of where it is written>`.
                let (name, digits) = key.rsplit_once('_')?;
                (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(())?;
                let mut files: Vec<String> = chunks.iter().map(|chunk| format!("{folder}/{chunk}.wasm")).collect();
                files.push(format!("{folder}/{SPLIT_LOADER}"));
                Some((name.to_owned(), files))
            })
            .collect();
        Some(Self { files: std::sync::Arc::new(files) })
    }

    /// The addresses of the files the lazy function `name` needs: its chunks, then the loader
    /// that fetches them. Empty for a name the manifest does not know.
    pub fn of(&self, name: &str) -> &[String] {
        self.files.get(name).map_or(&[], Vec::as_slice)
    }
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
        for file in REQUIRED {
            std::fs::write(pkg.join(file), file).unwrap();
        }
        let first = fingerprint(&dir);
        assert_eq!(first.len(), 16);
        assert_eq!(fingerprint(&dir), first, "the same files, the same fingerprint");
        std::fs::write(pkg.join("gatehouse.css.br"), "compressed").unwrap();
        assert_eq!(fingerprint(&dir), first, "a compressed copy follows from its file");
        std::fs::write(pkg.join("split_1.wasm"), "a page").unwrap();
        let with_chunk = fingerprint(&dir);
        assert_ne!(with_chunk, first, "a new chunk, a new fingerprint");
        std::fs::write(pkg.join("split_1.wasm"), "another page").unwrap();
        assert_ne!(fingerprint(&dir), with_chunk, "a changed chunk, a new fingerprint");
        std::fs::write(pkg.join("gatehouse.css"), "body { color: red }").unwrap();
        assert_ne!(fingerprint(&dir), with_chunk, "a changed file, a new fingerprint");
        std::fs::remove_file(pkg.join("gatehouse.wasm")).unwrap();
        assert_eq!(fingerprint(&dir), "unbuilt", "a required file missing");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_page_group_names_its_chunks_and_the_loader() {
        let dir = std::env::temp_dir().join(format!("gatehouse-manifest-{}", std::process::id()));
        let pkg = dir.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        assert!(PageChunks::read(&dir, "abc").is_none(), "no manifest, no names");
        std::fs::write(pkg.join(SPLIT_MANIFEST), "not json").unwrap();
        assert!(PageChunks::read(&dir, "abc").is_none(), "an unreadable manifest is ignored");
        std::fs::write(
            pkg.join(SPLIT_MANIFEST),
            r#"{"lead_pages_123": ["split_lead_pages_123", "chunk_1"], "lead_pages_extra_9": ["chunk_2"]}"#,
        )
        .unwrap();
        let chunks = PageChunks::read(&dir, "abc").expect("a manifest");
        assert_eq!(
            chunks.of("lead_pages"),
            ["/pkg/abc/split_lead_pages_123.wasm", "/pkg/abc/chunk_1.wasm", &*format!("/pkg/abc/{SPLIT_LOADER}")]
        );
        assert_eq!(
            chunks.of("lead_pages_extra"),
            ["/pkg/abc/chunk_2.wasm".to_owned(), format!("/pkg/abc/{SPLIT_LOADER}")]
        );
        assert!(chunks.of("lead").is_empty(), "a name is matched whole");
        assert!(chunks.of("settings_pages").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
