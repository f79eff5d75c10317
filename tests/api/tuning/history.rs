//! Importing past items as evidence: line-numbered refusals that store nothing, idempotent
//! re-imports, and the admin-scoped key both import and tuning need.

use super::*;
use crate::on_both_backends;

on_both_backends!(
    history_import_refuses_bad_lines_by_number_and_stores_nothing,
    history_import_is_idempotent_and_counts_as_evidence,
    history_and_tuning_need_an_admin_scoped_key,
);

async fn history_import_refuses_bad_lines_by_number_and_stores_nothing(backend: Backend) {
    let (app, key, _) = setup(backend).await;
    let body = [
        line("ok-1", 0.9, Some("right"), 1.0),
        line("ok-2", 1.5, Some("right"), 1.0),
        String::new(),
        "{not json".into(),
        line("ok-3", 0.9, Some("maybe"), 1.0),
        json!({ "external_id": "x", "confidence": 0.5, "review_probability": 1, "extra": 1 }).to_string(),
        line("ok-4", 0.9, Some("wrong"), 0.0),
        line("ok-\u{0007}", 0.9, None, 1.0),
        line("ok-5", 0.9, None, 1.0),
    ]
    .join("\n");
    let (status, body) = import(&app, &key, body).await;
    assert_eq!(status, 422, "{body}");
    let lines: Vec<i64> =
        body["error"]["details"]["lines"].as_array().unwrap().iter().map(|l| l["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, [2, 4, 5, 6, 7, 8], "{body}");
    assert_eq!(body["error"]["details"]["count"], 6);
    assert!(body["error"]["details"]["lines"][0]["message"].as_str().unwrap().contains("confidence"), "{body}");
    assert_eq!(count(&app, "select count(*) from history_items").await, 0, "nothing imported");
    assert_eq!(evidence(&app).await, (0, 0, 0));

    // A bad line after a thousand good ones (a batch already written) still rolls all back.
    let mut many: Vec<String> = (0..1500).map(|i| line(&format!("g{i}"), 0.9, Some("right"), 1.0)).collect();
    many.push(line("late", -0.1, None, 1.0));
    let (status, body) = import(&app, &key, many.join("\n")).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"]["lines"][0]["line"], 1501);
    assert_eq!(count(&app, "select count(*) from history_items").await, 0);

    let response = app
        .client
        .post(app.url(&format!("/api/v1/workflows/{SLUG}/history")))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415, "JSON lines only");
}

async fn history_import_is_idempotent_and_counts_as_evidence(backend: Backend) {
    let (app, key, _) = setup(backend).await;
    let (status, body) = import(&app, &key, history()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["lines"].as_i64(), body["imported"].as_i64()), (Some(1000), Some(1000)));
    assert_eq!(evidence(&app).await, (1000, 1000, 93));
    // Again, with a few new lines, and a trailing newline: only the new ones count.
    let again = format!("{}\n{}\n{}\n", history(), line("new-1", 0.97, None, 0.5), line("new-2", 0.97, None, 0.5));
    let (status, body) = import(&app, &key, again).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["imported"].as_i64(), body["already_present"].as_i64()), (Some(2), Some(1000)));
    assert_eq!(evidence(&app).await, (1002, 1000, 93));
    assert_eq!(count(&app, "select count(*) from history_items").await, 1002);
}

async fn history_and_tuning_need_an_admin_scoped_key(backend: Backend) {
    let (app, admin_key, ingest_key) = setup(backend).await;
    let (status, body) = import(&app, &ingest_key, history()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("key_not_admin")), "{body}");
    let (status, body) = tuning(&app, &ingest_key, "").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("key_not_admin")));
    // An admin key of another workflow gets nothing of this one.
    workflow().with("slug", json!("receipts")).create(&app).await;
    let other = gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "other", &["receipts".into()], true)
        .await
        .unwrap()
        .token;
    let (status, body) = tuning(&app, &other, "").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("key_scope")));
    assert_eq!(count(&app, "select count(*) from history_items").await, 0);
    let (status, _) = tuning(&app, "ghk_nothing", "").await;
    assert_eq!(status, 401);
    let (status, _) = tuning(&app, &admin_key, "").await;
    assert_eq!(status, 200);
}
