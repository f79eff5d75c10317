//! The machine API under Schemathesis (PyPI, the version `scripts/setup` installs): generated
//! requests, valid and not, against a real server with a workflow and its key. Every answer must
//! be a status the OpenAPI document lists for that operation, with its content type and body
//! schema, and none a server error.

use crate::fixtures::{SLUG, workflow};
use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;
use std::path::PathBuf;
use std::process::Command;

on_both_backends!(generated_requests_get_only_documented_answers);

/// Seconds of generated requests per backend.
const BUDGET_SECS: u32 = 25;

fn schemathesis() -> PathBuf {
    match std::env::var_os("SCHEMATHESIS") {
        Some(path) => path.into(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools/schemathesis-4.32.5/bin/st"),
    }
}

async fn generated_requests_get_only_documented_answers(backend: Backend) {
    let st = schemathesis();
    assert!(st.exists(), "{} is missing: run scripts/setup (or set SCHEMATHESIS)", st.display());
    let app = spawn_app(backend).await;
    // No contract: generated items are stored and read back, not only refused.
    workflow().with("slug", serde_json::json!(SLUG)).with("audit_rate", serde_json::json!(0.1)).create(&app).await;
    // Admin-scoped, so that the tuning operations run too instead of refusing the key.
    let key = gatehouse::api_keys::server::create(
        &app.db,
        &gatehouse::storage::audit::Actor::Cli,
        "fuzz",
        &[SLUG.to_owned()],
        true,
    )
    .await
    .unwrap()
    .token;
    let dir = std::env::temp_dir().join(format!("gatehouse-fuzz-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("schemathesis.toml");
    std::fs::write(
        &config,
        format!("headers = {{ Authorization = \"Bearer {}\" }}\n\n[parameters]\n\"path.slug\" = \"{SLUG}\"\n", key),
    )
    .unwrap();
    // History imports are JSON lines: one generated object is one line, sent as JSON is.
    std::fs::write(
        dir.join("gatehouse_hooks.py"),
        "import schemathesis\n\nschemathesis.serializer.alias(\"application/x-ndjson\", \"application/json\")\n",
    )
    .unwrap();
    let schema = app.url("/api/v1/openapi.json");
    let workdir = dir.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .current_dir(&workdir)
            .env("SCHEMATHESIS_HOOKS", "gatehouse_hooks")
            .env("PYTHONPATH", &workdir)
            .arg("--config-file")
            .arg(&config)
            .args(["run", &schema, "--workers", "1", "--no-color", "--max-time", &BUDGET_SECS.to_string()])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .output()
            .expect("run schemathesis")
    })
    .await
    .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found failures:\n{text}");
    assert!(text.contains("11 selected / 11 total") && text.contains("passed"), "{text}");
}
