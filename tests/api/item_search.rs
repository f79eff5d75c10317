//! Item search over HTTP: each filter, cursor pages, refusals, and one item's whole history.

use crate::fixtures::{SLUG, invoice, person, submit_all, workflow};
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;
use gatehouse::domain::Role;
use serde_json::{Value, json};

on_both_backends!(items_are_found_by_every_filter_a_page_at_a_time, an_items_page_shows_its_whole_history);

async fn call(app: &TestApp, client: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app.call_with(client, endpoint, form).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn ids(found: &Value) -> Vec<String> {
    found["items"].as_array().unwrap().iter().map(|i| i["external_id"].as_str().unwrap().to_owned()).collect()
}

async fn items_are_found_by_every_filter_a_page_at_a_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let lee = person(&app, "lee@example.com", Role::Lead).await;
    let created = workflow().members(&[&lee]).create(&app).await;
    // 55 items to review at 0.5, 4 auto-approved at 0.95, one of model v4 at 0.3, one escalated.
    let mut items: Vec<Value> = (0..55).map(|i| invoice(&format!("r{i:02}"), 0.5)).collect();
    items.extend((0..4).map(|i| invoice(&format!("a{i}"), 0.95)));
    let mut v4 = invoice("v4-item", 0.3);
    v4["model_version"] = json!("v4");
    items.push(v4);
    items.push(invoice("unsure", 0.1));
    submit_all(&app, &created.key, SLUG, &items).await;

    let search = |form: Vec<(&'static str, String)>| {
        let (app, client) = (&app, &lee.client);
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            call(app, client, "items/search", &form).await
        }
    };
    let (status, all) = search(vec![]).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["slug"], SLUG);
    assert_eq!(all["items"].as_array().unwrap().len(), 50, "a page");
    let cursor = all["next_cursor"].as_str().expect("an older page").to_owned();
    let (_, older) = search(vec![("cursor", cursor)]).await;
    assert_eq!(older["items"].as_array().unwrap().len(), 11);
    assert!(older["next_cursor"].is_null());
    let mut seen = ids(&all);
    seen.extend(ids(&older));
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 61, "every item once");

    let (_, one) = search(vec![("external_id", "r07".into())]).await;
    assert_eq!(ids(&one), ["r07"]);
    let (_, auto) = search(vec![("state", "auto_approved".into())]).await;
    assert_eq!(ids(&auto).len(), 4);
    let (_, escalated) = search(vec![("route_reason", "low_confidence".into())]).await;
    assert_eq!(ids(&escalated), ["unsure"]);
    let (_, version) = search(vec![("model_version", "v4".into())]).await;
    assert_eq!(ids(&version), ["v4-item"]);
    let (_, band) = search(vec![("min_confidence", "0.2".into()), ("max_confidence", "0.4".into())]).await;
    assert_eq!(ids(&band), ["v4-item"], "confidence from 0.2 through 0.4");
    let (_, high) = search(vec![("min_confidence", "0.9".into()), ("state", "auto_approved".into())]).await;
    assert_eq!(ids(&high).len(), 4, "filters combine");
    let (_, none) = search(vec![("to", "2000-01-01".into())]).await;
    assert_eq!(ids(&none).len(), 0, "nothing arrived by 2000");
    let (_, since) = search(vec![("from", "2000-01-01".into()), ("external_id", "a1".into())]).await;
    assert_eq!(ids(&since), ["a1"]);

    for (field, value) in [
        ("state", "lost"),
        ("route_reason", "whim"),
        ("min_confidence", "2"),
        ("max_confidence", "x"),
        ("from", "yesterday"),
        ("cursor", "abc"),
    ] {
        let (status, body) = search(vec![(field, value.into())]).await;
        assert_eq!((status, body["field"].as_str()), (422, Some(field)), "{field}={value}: {body}");
    }
    let (status, body) = search(vec![("min_confidence", "0.8".into()), ("max_confidence", "0.2".into())]).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("max_confidence")), "{body}");

    let rita = person(&app, "rita@example.com", Role::Reviewer).await;
    let (status, _) = call(&app, &rita.client, "items/search", &[]).await;
    assert_eq!(status, 403, "reviewers do not search");
    let outsider = person(&app, "olga@example.com", Role::Lead).await;
    let (status, body) = call(&app, &outsider.client, "items/search", &[]).await;
    assert_eq!((status, body["workflows"].as_array().map(Vec::len)), (200, Some(0)), "{body}");
    let (status, _) = call(&app, &outsider.client, "items/search", &[("workflow", SLUG)]).await;
    assert_eq!(status, 403, "a workflow the lead does not lead");
}

async fn an_items_page_shows_its_whole_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let rita = person(&app, "rita@example.com", Role::Reviewer).await;
    let lee = person(&app, "lee@example.com", Role::Lead).await;
    let created = workflow().members(&[&rita, &lee]).with("reason_codes", json!(["blurry"])).create(&app).await;
    let stored = submit_all(&app, &created.key, SLUG, &[invoice("x1", 0.5), invoice("x2", 0.95)]).await;
    let item_id = stored[0]["id"].as_i64().unwrap().to_string();
    let (_, claimed) = call(&app, &rita.client, "review/start", &[("slug", SLUG)]).await;
    assert_eq!(claimed.as_i64().unwrap().to_string(), item_id);
    let (_, item) = call(&app, &rita.client, "review/item", &[("slug", SLUG), ("item_id", &item_id)]).await;
    let token = item["lease_token"].as_str().unwrap().to_owned();
    let form = [("item_id", item_id.as_str()), ("lease_token", token.as_str()), ("fields[/fields/total]", "99")];
    let (status, body) = call(&app, &rita.client, "review/correct", &form).await;
    assert_eq!(status, 200, "{body}");

    let (status, record) = call(&app, &lee.client, "items/record", &[("item_id", &item_id)]).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!((record["external_id"].as_str(), record["state"].as_str()), (Some("x1"), Some("corrected")));
    assert_eq!(record["outcome"], "corrected");
    assert_eq!(record["final_output"]["fields"]["total"], 99.0);
    let kinds: Vec<&str> = record["history"].as_array().unwrap().iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.last(), Some(&"correct"), "{kinds:?}");
    assert!(record["history"].as_array().unwrap().iter().any(|l| l["actor"] == "rita@example.com"));
    let auto_id = stored[1]["id"].as_i64().unwrap().to_string();
    let (_, auto) = call(&app, &lee.client, "items/record", &[("item_id", &auto_id)]).await;
    assert_eq!(auto["state"], "auto_approved");

    let outsider = person(&app, "olga@example.com", Role::Lead).await;
    let (status, _) = call(&app, &outsider.client, "items/record", &[("item_id", &item_id)]).await;
    assert_eq!(status, 403);
    let (status, _) = call(&app, &rita.client, "items/record", &[("item_id", &item_id)]).await;
    assert_eq!(status, 403);
    let (status, _) = call(&app, &lee.client, "items/record", &[("item_id", "999999")]).await;
    assert_eq!(status, 404);
}
