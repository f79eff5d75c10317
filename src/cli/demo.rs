//! `gatehouse demo`: demo users and a demo workflow, then realistic items streamed into it
//! through the real API of a running server, so that queues fill up a minute after start.

use crate::domain::Role;
use crate::domain::workflow::WorkflowSpec;
use crate::error::AppError;
use crate::storage::audit::Actor;
use crate::storage::db::Db;
use crate::users::server::{self as users, NewUser};
use anyhow::Context;
use rand::Rng;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

pub const DEMO_PASSWORD: &str = "gatehouse-demo";
const WORKFLOW: &str = include_str!("../../docs/examples/invoice-extraction.json");
const VENDORS: &[&str] =
    &["ACME GmbH", "Nordwind AB", "Cobalt Supplies Ltd", "Baltic Freight", "Kite & Co", "Helios SARL"];
const CURRENCIES: &[&str] = &["EUR", "EUR", "EUR", "USD", "GBP", "SEK"];

pub struct DemoOptions {
    pub url: String,
    pub items: u32,
    pub per_second: u32,
    /// `--yes`: add the demo users to a database that has users of its own.
    pub even_with_other_users: bool,
}

pub async fn run(db: &Db, options: DemoOptions) -> anyhow::Result<()> {
    let people = [
        ("admin@demo.local", "Dana Admin", Role::Admin),
        ("lead@demo.local", "Lee Lead", Role::Lead),
        ("reviewer@demo.local", "Riley Reviewer", Role::Reviewer),
        ("reviewer2@demo.local", "Robin Reviewer", Role::Reviewer),
    ];
    // The demo admin's password is published: never add it to a real instance by accident.
    let others = users::list(db).await.map_err(AppError::for_terminal)?;
    let foreign = others.iter().filter(|u| !people.iter().any(|(email, ..)| *email == u.email)).count();
    anyhow::ensure!(
        foreign == 0 || options.even_with_other_users,
        "this database has {foreign} user(s) besides the demo's; the demo adds an admin whose password \
         is public. Point it at an empty database, or pass --yes to add the demo users anyway."
    );
    for (email, name, role) in people {
        if users::find_by_email(db, &crate::domain::Email::parse(email).map_err(AppError::for_terminal)?)
            .await
            .map_err(AppError::for_terminal)?
            .is_none()
        {
            let new_user =
                NewUser::parse(email, name, role, DEMO_PASSWORD, "password").map_err(AppError::for_terminal)?;
            users::create(db, &Actor::Cli, new_user).await.map_err(AppError::for_terminal)?;
        }
    }
    let mut spec: WorkflowSpec = serde_json::from_str(WORKFLOW).context("the demo workflow file is invalid")?;
    spec.owner = Some("admin@demo.local".into());
    spec.members = vec!["lead@demo.local".into(), "reviewer2@demo.local".into(), "reviewer@demo.local".into()];
    let (workflow, _) =
        crate::workflows::server::apply(db, &Actor::Cli, spec, "demo").await.map_err(AppError::for_terminal)?;
    let key = crate::api_keys::server::create(db, &Actor::Cli, "demo", &[workflow.slug().to_owned()], false)
        .await
        .map_err(AppError::for_terminal)?;

    println!(
        "Demo users (password \"{DEMO_PASSWORD}\"): admin@demo.local, lead@demo.local, reviewer@demo.local, reviewer2@demo.local"
    );
    println!(
        "Streaming {} items into '{}' at {}/s through {} …",
        options.items,
        workflow.slug(),
        options.per_second,
        options.url
    );
    let client = reqwest::Client::new();
    let endpoint = format!("{}/api/v1/workflows/{}/items", options.url.trim_end_matches('/'), workflow.slug());
    let pause = Duration::from_secs_f64(1.0 / f64::from(options.per_second.max(1)));
    let run_id: u32 = rand::thread_rng().r#gen();
    let mut routed: BTreeMap<String, u32> = BTreeMap::new();
    for n in 0..options.items {
        let body = invoice(&format!("demo-{run_id:08x}-{n:05}"));
        let response = client.post(&endpoint).bearer_auth(&key.token).json(&body).send().await.with_context(|| {
            format!("could not reach Gatehouse at {}: start it first (scripts/run) or pass --url", options.url)
        })?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            anyhow::bail!("the server refused a demo item ({status}): {answer}");
        }
        *routed.entry(answer["state"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
        tokio::time::sleep(pause).await;
    }
    let summary: Vec<String> = routed.iter().map(|(state, n)| format!("{n} {state}")).collect();
    println!("Done: {}. Sign in as reviewer@demo.local to work the queue.", summary.join(", "));
    Ok(())
}

/// One realistic invoice extraction with a confidence spread like a real model's: mostly sure,
/// a tail of doubtful ones.
fn invoice(external_id: &str) -> Value {
    let mut rng = rand::thread_rng();
    let number = rng.gen_range(1000..99999);
    let confidence: f64 = match rng.gen_range(0..100) {
        0..=54 => rng.gen_range(0.92..1.0),
        55..=84 => rng.gen_range(0.5..0.92),
        85..=94 => rng.gen_range(0.3..0.5),
        _ => rng.gen_range(0.05..0.3),
    };
    let currency = CURRENCIES[rng.gen_range(0..CURRENCIES.len())];
    json!({
        "external_id": external_id,
        "payload": {
            "invoice_number": format!("2026-{number}"),
            "document_url": format!("https://files.example.com/invoices/2026-{number}.pdf"),
            "supplier": VENDORS[rng.gen_range(0..VENDORS.len())],
        },
        "prediction": {
            "label": if confidence < 0.2 { "not_an_invoice" } else { "invoice" },
            "fields": {
                "total": (rng.gen_range(20.0..25_000.0_f64) * 100.0).round() / 100.0,
                "currency": currency,
                "due_date": format!("2026-12-{:02}", rng.gen_range(1..29)),
            },
        },
        "confidence": (confidence * 1000.0).round() / 1000.0,
        "model_version": if rng.gen_bool(0.8) { "ocr-7" } else { "ocr-8-canary" },
        "priority": if rng.gen_bool(0.1) { 10 } else { 0 },
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_items_satisfy_the_demo_contract() {
        let spec: crate::domain::workflow::WorkflowSpec = serde_json::from_str(super::WORKFLOW).unwrap();
        let contract =
            crate::workflows::contract::Contract::compile(&spec.payload_schema, &spec.prediction_schema, spec.labels)
                .unwrap();
        for i in 0..200 {
            let item = super::invoice(&format!("t-{i}"));
            contract.check(&item["payload"], &item["prediction"]).unwrap();
            let c = item["confidence"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&c));
        }
    }
}
