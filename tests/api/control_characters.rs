//! Control characters (NUL above all, which PostgreSQL cannot store in text) are refused at the
//! edge on both backends alike: 422 naming the field, nothing changed. Every field of every
//! registered server function is tried (the list of them is checked against the registry, and
//! their fields are read from their types); the history import refuses by line. (Single items,
//! and item data kept as sent: `ingest::control_characters_in_text_fields_are_refused_alike_on_both_backends`.)
//!
//! One file over the usual length: the table of every server function's fields, and the sample
//! value of each field, must stand in one place for the registry check to mean anything.

use crate::fixtures::{SLUG, invoice, person, submit, submit_all, workflow};
use crate::helpers::{Backend, PASSWORD, TestApp, error_kind, spawn_app, spawn_app_with, wait_until};
use crate::on_both_backends;
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use leptos::server_fn::ServerFn;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

on_both_backends!(
    a_batch_refuses_control_characters_by_item,
    addresses_with_control_characters_name_nothing,
    every_text_field_of_the_server_functions_refuses_control_characters,
    the_history_import_refuses_control_characters_by_line,
    one_line_fields_refuse_line_breaks_and_notes_keep_them,
);

/// An item's id, state, assignee, holder and lease token.
type ItemRow = (i64, String, Option<i64>, Option<i64>, Option<String>);

/// What a refused request must leave as it was: how many rows each table holds, and the parts
/// of the rows a server function changes (an item's state and holder, an account, a workflow's
/// settings and breaker, a key, an endpoint's secret, an event, an escalation).
async fn snapshot(app: &TestApp) -> Vec<String> {
    let pool = app.db.pool();
    let mut state = Vec::new();
    for table in [
        "users",
        "sessions",
        "workflows",
        "workflow_members",
        "workflow_settings_history",
        "api_keys",
        "api_key_workflows",
        "webhook_endpoints",
        "webhook_outbox",
        "items",
        "decisions",
        "escalations",
        "history_items",
        "audit_events",
        "login_throttle",
    ] {
        let (n,): (i64,) = sqlx::query_as(&format!("select count(*) from {table}")).fetch_one(pool).await.unwrap();
        state.push(format!("{table}: {n} rows"));
    }
    let items: Vec<ItemRow> =
        sqlx::query_as("select id, state, assigned_to, leased_by, lease_token from items order by id")
            .fetch_all(pool)
            .await
            .unwrap();
    let users: Vec<(i64, String, String, i64, Option<i64>)> =
        sqlx::query_as("select id, role, password_hash, auth_epoch, disabled_at from users order by id")
            .fetch_all(pool)
            .await
            .unwrap();
    let workflows: Vec<(i64, i64, i64, Option<String>)> =
        sqlx::query_as("select id, settings_version, breaker_open, breaker_reason from workflows order by id")
            .fetch_all(pool)
            .await
            .unwrap();
    let keys: Vec<(i64, Option<i64>)> =
        sqlx::query_as("select id, revoked_at from api_keys order by id").fetch_all(pool).await.unwrap();
    let endpoints: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("select id, secret, previous_secret from webhook_endpoints order by id")
            .fetch_all(pool)
            .await
            .unwrap();
    let outbox: Vec<(i64, String, i64)> =
        sqlx::query_as("select id, status, attempts from webhook_outbox order by id").fetch_all(pool).await.unwrap();
    let escalations: Vec<(i64, i64, Option<i64>)> =
        sqlx::query_as("select id, level, resolved_at from escalations order by id").fetch_all(pool).await.unwrap();
    state.push(format!("items: {items:?}"));
    state.push(format!("users: {users:?}"));
    state.push(format!("workflows: {workflows:?}"));
    state.push(format!("api keys: {keys:?}"));
    state.push(format!("endpoints: {endpoints:?}"));
    state.push(format!("outbox: {outbox:?}"));
    state.push(format!("escalations: {escalations:?}"));
    state
}

/// A batch refuses an item with a control character by its index, and stores none of the batch.
async fn a_batch_refuses_control_characters_by_item(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = workflow().create(&app).await;
    let mut bad = invoice("batch-bad", 0.5);
    bad["model_version"] = json!("v\u{1b}[2J");
    let response = app
        .client
        .post(app.url(&format!("/api/v1/workflows/{SLUG}/items:batch")))
        .bearer_auth(&created.key)
        .json(&json!({ "items": [invoice("batch-good", 0.5), bad] }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("/model_version"), "{body}");
    let (stored,): (i64,) = sqlx::query_as("select count(*) from items").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(stored, 0, "a batch is all or nothing");
}

async fn addresses_with_control_characters_name_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = workflow().create(&app).await;
    for path in [
        format!("/api/v1/workflows/{SLUG}/items/by-external-id/a%00b"),
        "/api/v1/workflows/inv%00oices/items/by-external-id/x".to_owned(),
        "/api/v1/items/1%0a".to_owned(),
    ] {
        let response = app.client.get(app.url(&path)).bearer_auth(&created.key).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{path}: {body}");
    }
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let page = admin.get(app.url("/workflows/inv%00oices")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 404);
    let call = admin.post(app.url("/api/review/queue%00")).form(&[("slug", SLUG)]).send().await.unwrap();
    assert_eq!(call.status(), 404);
}

/// Every registered server function, by the type its arguments are read into: its address (the
/// part after `/api/`) and its fields, as the type's `Deserialize` names them, so that no field
/// of a listed function can be left out. A server function missing here fails
/// [`the_table_names_every_registered_server_function`].
fn server_functions() -> Vec<(&'static str, &'static [&'static str])> {
    use gatehouse::{
        account, api_keys, api_reference, audit_log, auth, escalations, items, monitoring, review, team, tuning, users,
        webhooks, workflows,
    };
    vec![
        signature::<auth::api::CurrentUser>(),
        signature::<auth::api::Login>(),
        signature::<auth::api::Logout>(),
        signature::<auth::api::NeedsSetup>(),
        signature::<auth::api::CreateFirstAdmin>(),
        signature::<auth::api::TakeFlashSecret>(),
        signature::<account::api::MySessions>(),
        signature::<account::api::ChangePassword>(),
        signature::<account::api::EndSession>(),
        signature::<account::api::EndOtherSessions>(),
        signature::<api_reference::api::ApiReference>(),
        signature::<review::api::Queues>(),
        signature::<review::api::Queue>(),
        signature::<review::api::StartReviewing>(),
        signature::<review::api::ClaimAssigned>(),
        signature::<review::api::LoadReviewItem>(),
        signature::<review::api::RenewLease>(),
        signature::<review::api::Approve>(),
        signature::<review::api::Reject>(),
        signature::<review::api::Correct>(),
        signature::<review::api::Escalate>(),
        signature::<review::api::Skip>(),
        signature::<review::api::Undo>(),
        signature::<review::api::LoadUndoOffer>(),
        signature::<review::api::Assign>(),
        signature::<escalations::api::LoadInbox>(),
        signature::<escalations::api::LoadEscalation>(),
        signature::<escalations::api::AssignEscalation>(),
        signature::<escalations::api::AssignSelected>(),
        signature::<escalations::api::DecideEscalation>(),
        signature::<escalations::api::SendBack>(),
        signature::<escalations::api::LoadCounts>(),
        signature::<team::api::LoadTeam>(),
        signature::<monitoring::api::LoadDashboard>(),
        signature::<items::api::SearchItems>(),
        signature::<items::api::LoadItemRecord>(),
        signature::<users::api::ListUsers>(),
        signature::<users::api::AddUser>(),
        signature::<users::api::SetUserRole>(),
        signature::<users::api::SetUserDisabled>(),
        signature::<users::api::ResetUserPassword>(),
        signature::<api_keys::api::ListApiKeys>(),
        signature::<api_keys::api::CreateApiKey>(),
        signature::<api_keys::api::RevokeApiKey>(),
        signature::<audit_log::api::LoadAudit>(),
        signature::<webhooks::api::AddWebhook>(),
        signature::<webhooks::api::ReplayWebhook>(),
        signature::<webhooks::api::SendTestWebhook>(),
        signature::<webhooks::api::RotateWebhookSecret>(),
        signature::<workflows::api::ListWorkflows>(),
        signature::<workflows::api::LoadWorkflow>(),
        signature::<workflows::api::SaveWorkflow>(),
        signature::<tuning::api::LoadTuning>(),
        signature::<tuning::api::ApplyThreshold>(),
        signature::<tuning::api::CloseBreaker>(),
    ]
}

/// The server functions that take no argument at all, so no text to refuse. Every other one
/// has each of its fields poisoned in turn (a number or a flag is text in a form too).
const TAKES_NO_TEXT: &[&str] = &[
    "auth/me",
    "auth/logout",
    "setup/status",
    "flash/take",
    "account/sessions",
    "account/end-other-sessions",
    "docs/api",
    "review/queues",
    "escalations/counts",
    "users/list",
    "api-keys/list",
    "workflows/list",
];

/// The server functions an audit found untested; each must be among those poisoned, with the
/// fields it named.
const AUDITED: &[(&str, &[&str])] = &[
    ("escalations/assign", &["assignee", "note"]),
    ("escalations/decide", &["note", "reason_code", "fields"]),
    ("tuning/apply", &["slug", "how", "threshold", "rollout_share", "reason", "confirm"]),
    ("tuning/close-breaker", &["slug", "reason"]),
    ("items/search", &["workflow", "external_id", "model_version", "cursor"]),
    ("monitoring/dashboard", &["workflow", "model_version", "range", "from", "to"]),
    ("tuning/report", &["slug", "model_version", "at"]),
];

/// A server function's address and fields, from the type its arguments are read into.
fn signature<T: ServerFn + serde::de::DeserializeOwned>() -> (&'static str, &'static [&'static str]) {
    let path = T::PATH.strip_prefix("/api/").unwrap_or(T::PATH);
    let mut names = FieldNames(None);
    let _ = T::deserialize(&mut names);
    (path, names.0.unwrap_or_else(|| panic!("{path} does not read its arguments as a struct")))
}

/// A deserializer that reads nothing: it records the field names a struct asks it for.
struct FieldNames(Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for &mut FieldNames {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only a struct's field names are read"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(fields);
        Err(serde::de::Error::custom("its field names were read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// The server functions the table lists are exactly those the app registers, each once; and
/// those said to take nothing take nothing, the others something.
fn the_table_names_every_registered_server_function() {
    let registered: BTreeSet<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.strip_prefix("/api/").unwrap_or(path))
        .collect();
    let table = server_functions();
    let listed: BTreeSet<&str> = table.iter().map(|(endpoint, _)| *endpoint).collect();
    assert_eq!(listed.len(), table.len(), "a server function is listed twice");
    let missing: Vec<&&str> = registered.difference(&listed).collect();
    let unknown: Vec<&&str> = listed.difference(&registered).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "server_functions() must list exactly the registered server functions: not listed {missing:?} \
         (add its type, and a value for each new field to `sample`); listed but not registered {unknown:?}"
    );
    for (endpoint, fields) in &table {
        assert_eq!(
            fields.is_empty(),
            TAKES_NO_TEXT.contains(endpoint),
            "{endpoint} takes {fields:?}: TAKES_NO_TEXT must name it exactly when it takes nothing"
        );
    }
    assert!(TAKES_NO_TEXT.iter().all(|e| listed.contains(e)), "TAKES_NO_TEXT names {TAKES_NO_TEXT:?}");
    for (endpoint, named) in AUDITED {
        let fields = table.iter().find(|(e, _)| e == endpoint).map_or(&[][..], |(_, f)| *f);
        assert!(named.iter().all(|f| fields.contains(f)), "{endpoint} takes {fields:?}, not all of {named:?}");
    }
}

/// What the poisoned calls name: an item waiting for review, one escalated to a lead.
struct Named {
    queued: String,
    escalated: String,
}

/// The form pairs a field of a server function is sent as, with a value the function would take:
/// one pair, or for a map (`fields`, `selected`, `events`) one entry keyed as the form keys it.
/// Every field of every server function needs one, so a new field is poisoned in its turn.
fn sample(named: &Named, endpoint: &str, field: &str) -> (String, String) {
    let item = if endpoint.starts_with("escalations/") || endpoint == "items/record" {
        &named.escalated
    } else {
        &named.queued
    };
    let value = match (endpoint, field) {
        (_, "fields") => return ("fields[/label]".into(), "receipt".into()),
        (_, "selected") => return (format!("selected[{}]", named.escalated), "on".into()),
        (_, "events") => return ("events[item.approved]".into(), "on".into()),
        (_, "item_id" | "skipped") => item.as_str(),
        (_, "decision_id" | "key_id" | "outbox_id" | "endpoint_id" | "user_id") => "1",
        (_, "slug" | "workflow" | "workflows") => SLUG,
        (_, "email" | "assignee" | "owner" | "members" | "actor") => "admin@example.com",
        (_, "password" | "current_password" | "password_confirm") => PASSWORD,
        (_, "new_password" | "new_password_confirm") => "another long password",
        (_, "setup_token") => "token",
        (_, "next") => "/queues",
        (_, "name") => "Ada",
        (_, "role") => "lead",
        (_, "handle") => "abc",
        (_, "lease_token") => "00",
        (_, "verdict") => "reject",
        (_, "reason_code") => "blurry",
        (_, "note" | "description") => "first line\nsecond line",
        ("escalations/inbox", "reason") => "low_confidence",
        (_, "reason") => "a change",
        (_, "level") => "1",
        (_, "cursor") => "abc",
        (_, "action") => "user.added",
        (_, "admin" | "confirm" | "paused" | "tune_auto_reject") => "on",
        (_, "disabled") => "true",
        (_, "url") => "https://hooks.example.com/x",
        (_, "mode") => "update",
        (_, "payload_schema" | "prediction_schema") => "{}",
        (_, "labels") => "invoice, receipt",
        (_, "reason_codes" | "escalate_on_reasons") => "blurry",
        (_, "auto_approve_at" | "rollout_from") => "0.9",
        (_, "escalate_below") => "0.2",
        (_, "auto_reject_below") => "0.05",
        (_, "audit_rate") => "0",
        (_, "rollout_share") => "1",
        (_, "target_error_rate") => "0.02",
        (_, "confidence") => "0.95",
        (_, "review_sla_minutes" | "escalation_sla_minutes") => "60",
        (_, "lease_minutes") => "10",
        (_, "escalate_after_lease_expiries") => "3",
        (_, "model_version") => "v3",
        (_, "range") => "custom",
        (_, "from") => "2024-01-01",
        (_, "to") => "2024-12-31",
        (_, "at" | "threshold") => "0.97",
        (_, "how") => "manual",
        (_, "external_id") => "i-1",
        (_, "state") => "queued",
        (_, "route_reason") => "below_threshold",
        (_, "min_confidence") => "0.1",
        (_, "max_confidence") => "0.9",
        _ => panic!("no value for the field {field} of {endpoint}: add one to `sample`"),
    };
    (field.to_owned(), value.to_owned())
}

async fn every_text_field_of_the_server_functions_refuses_control_characters(backend: Backend) {
    the_table_names_every_registered_server_function();
    // The sweeper opens the escalation soon; nothing else happens in the background.
    let app = spawn_app_with(backend, |s| {
        s.escalation_sweep_ms = 20;
        s.webhook_poll_ms = 3_600_000;
        s.lease_sweep_ms = 3_600_000;
    })
    .await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let created = workflow().with("members", json!(["admin@example.com"])).create(&app).await;
    let stored = submit_all(&app, &created.key, SLUG, &[invoice("i-1", 0.5), invoice("doubtful", 0.1)]).await;
    assert_eq!((stored[0]["state"].as_str(), stored[1]["state"].as_str()), (Some("queued"), Some("escalated")));
    let named = Named { queued: stored[0]["id"].to_string(), escalated: stored[1]["id"].to_string() };
    wait_until(Duration::from_secs(10), "the escalation to be opened", async || {
        let (open,): (i64,) = sqlx::query_as("select count(*) from escalations where resolved_at is null")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        open == 1
    })
    .await;

    let before = snapshot(&app).await;
    let mut checked = BTreeSet::new();
    for (endpoint, fields) in server_functions() {
        let form: Vec<(String, String)> = fields.iter().map(|field| sample(&named, endpoint, field)).collect();
        for i in 0..form.len() {
            for bad in ["nul\u{0}inside", "escape\u{1b}[31m"] {
                let mut poisoned = form.clone();
                poisoned[i].1 = bad.to_owned();
                let pairs: Vec<(&str, &str)> = poisoned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let field = form[i].0.as_str();
                let (status, body) = error_kind(app.call_with(&admin, endpoint, &pairs).await).await;
                assert_eq!((status, body["field"].as_str()), (422, Some(field)), "{endpoint} {field}: {body}");
                assert!(body["message"].as_str().unwrap().contains(field), "{endpoint} {field}: {body}");
                checked.insert((endpoint, field.to_owned()));
            }
        }
    }
    for (endpoint, named) in AUDITED {
        for field in *named {
            let poisoned = checked.iter().any(|(e, f)| e == endpoint && f.split('[').next() == Some(*field));
            assert!(poisoned, "{endpoint} {field} was not poisoned");
        }
    }
    assert!(checked.len() >= 130, "only {} fields poisoned", checked.len());
    // The body is read as a form whatever its type claims, so it is checked as one too.
    let disguised = admin
        .post(app.url("/api/workflows/detail"))
        .header("content-type", "text/plain")
        .body("slug=inv%00oices")
        .send()
        .await
        .unwrap();
    let (status, body) = error_kind(disguised).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("slug")), "{body}");
    assert_eq!(snapshot(&app).await, before, "a refused call changes nothing");
    assert_eq!(app.me(&admin).await["email"], "admin@example.com", "and ends no session");
}

/// The history import refuses a control character in a line's text by the line's number (NUL
/// above all, which PostgreSQL cannot store), on both backends alike, and imports nothing.
async fn the_history_import_refuses_control_characters_by_line(backend: Backend) {
    let app = spawn_app(backend).await;
    workflow().create(&app).await;
    let key =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "tuner", &[SLUG.into()], true).await.unwrap().token;
    let line = |id: &str, model: &str| {
        json!({ "external_id": id, "confidence": 0.9, "model_version": model, "verdict": "right",
                "review_probability": 1.0 })
        .to_string()
    };
    let import = |body: String| {
        // A client of its own: a refusal may close the connection before the body is read.
        let request = crate::helpers::client()
            .post(app.url(&format!("/api/v1/workflows/{SLUG}/history")))
            .bearer_auth(&key)
            .header("content-type", "application/x-ndjson")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let imported = async || {
        let (n,): (i64,) = sqlx::query_as("select count(*) from history_items").fetch_one(app.db.pool()).await.unwrap();
        let (evidence,): (i64,) =
            sqlx::query_as("select cast(coalesce(sum(volume), 0) as bigint) from tuning_evidence")
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        (n, evidence)
    };
    let good = [line("h-1", "v3"), line("h-2", "v3"), line("h-3", "v3")];
    let body = [
        good[0].clone(),
        line("h-\u{0}", "v3"),
        good[1].clone(),
        line("h-4", "v\u{0}3"),
        line("h-5", "v\u{1b}[2J"),
        good[2].clone(),
    ];
    let (status, answer) = import(body.join("\n")).await;
    assert_eq!(status, 422, "{answer}");
    let refused: Vec<(i64, String)> = answer["error"]["details"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["line"].as_i64().unwrap(), l["message"].as_str().unwrap().to_owned()))
        .collect();
    let numbers: Vec<i64> = refused.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [2, 4, 5], "{answer}");
    assert!(refused[0].1.contains("external_id"), "{answer}");
    assert!(refused[1].1.contains("model_version") && refused[2].1.contains("model_version"), "{answer}");
    assert_eq!(answer["error"]["details"]["count"], 3, "{answer}");
    assert_eq!(imported().await, (0, 0), "nothing imported");

    // The same lines without the bad ones are taken.
    let (status, answer) = import(good.join("\n")).await;
    assert_eq!((status, answer["imported"].as_i64()), (200, Some(3)), "{answer}");
    assert_eq!(imported().await, (3, 3));
}

/// Names, codes and slugs are one line; notes and descriptions may span lines.
async fn one_line_fields_refuse_line_breaks_and_notes_keep_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = person(&app, "admin@example.com", Role::Admin).await;
    let created = workflow().members(&[&admin]).create(&app).await;
    let key = app.call_with(&admin.client, "api-keys/create", &[("name", "two\nlines"), ("workflows", SLUG)]).await;
    let (status, body) = error_kind(key).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("name")), "{body}");
    let user = app
        .call_with(
            &admin.client,
            "users/add",
            &[("email", "x@example.com"), ("name", "two\nlines"), ("role", "reviewer"), ("password", PASSWORD)],
        )
        .await;
    let (status, body) = error_kind(user).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("name")), "{body}");

    // The reason of a settings change is kept in the history, however the change is made.
    let spec = workflow().members(&[&admin]).spec();
    let applied =
        gatehouse::workflows::server::apply(&app.db, &gatehouse::storage::audit::Actor::Cli, spec, "why\u{0}").await;
    let Err(refused) = applied else { panic!("a reason with NUL was accepted") };
    assert_eq!(refused.field(), Some("reason"));

    // A reviewer's note keeps its lines; a free reason code (the workflow lists none) is one line.
    submit(&app, &created.key, SLUG, &invoice("i-1", 0.5)).await;
    let start = app.call_with(&admin.client, "review/start", &[("slug", SLUG)]).await;
    let item_id: Option<i64> = start.json().await.unwrap();
    let item_id = item_id.expect("an item to review").to_string();
    let leased: Value = app
        .call_with(&admin.client, "review/item", &[("slug", SLUG), ("item_id", item_id.as_str())])
        .await
        .json()
        .await
        .unwrap();
    let token = leased["lease_token"].as_str().expect("a lease token").to_owned();
    let reject = |code: &'static str| {
        let (item_id, token, client) = (item_id.clone(), token.clone(), admin.client.clone());
        let url = app.url("/api/review/reject");
        async move {
            client
                .post(url)
                .form(&[
                    ("item_id", item_id.as_str()),
                    ("lease_token", token.as_str()),
                    ("reason_code", code),
                    ("note", "first line\nsecond line"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let (status, body) = error_kind(reject("two\nlines").await).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("reason_code")), "{body}");
    assert_eq!(reject("wrong_total").await.status(), 200);
    let (note,): (String,) =
        sqlx::query_as("select note from decisions where kind = 'reject'").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(note, "first line\nsecond line");
}
