//! Security headers, CSRF protection, body limits, health endpoints, error pages.

use crate::helpers::{Backend, PASSWORD, spawn_app, spawn_app_with};
use crate::on_both_backends;
use gatehouse::domain::Role;

on_both_backends!(
    health_and_readiness,
    pages_carry_a_nonce_csp_and_security_headers,
    cross_site_posts_are_refused_and_change_nothing,
    oversize_bodies_get_413_and_change_nothing,
    unknown_pages_get_a_404_page,
    signed_out_visitors_are_sent_to_sign_in_and_reviewers_are_kept_out_of_admin_pages,
);

async fn health_and_readiness(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");

    // With the database gone, readiness says so while health still answers.
    app.db.close().await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

async fn pages_carry_a_nonce_csp_and_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.client.get(app.url("/login")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap().to_owned();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce in the CSP");
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the CSP nonce");
    assert!(!html.contains("cdn") && !html.contains("https://"), "no asset from another host");
}

async fn cross_site_posts_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let form = [("email", "new@example.com"), ("name", "n"), ("role", "admin"), ("password", PASSWORD)];
    let forged = admin
        .post(app.url("/api/users/add"))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let forged =
        admin.post(app.url("/api/users/add")).header("sec-fetch-site", "cross-site").form(&form).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(app.user_count().await, 1);

    let host = app.address.trim_start_matches("http://").to_owned();
    let same = admin
        .post(app.url("/api/users/add"))
        .header("origin", format!("http://{host}"))
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    assert_eq!(app.user_count().await, 2);
}

async fn oversize_bodies_get_413_and_change_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.max_body_bytes = 4096).await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let huge_name = "n".repeat(8192);
    let form =
        [("email", "new@example.com"), ("name", huge_name.as_str()), ("role", "reviewer"), ("password", PASSWORD)];
    let response = app.call_with(&admin, "users/add", &form).await;
    assert_eq!(response.status(), 413);
    assert_eq!(app.user_count().await, 1);
}

async fn unknown_pages_get_a_404_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.client.get(app.url("/no/such/page")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), 404);
    let html = response.text().await.unwrap();
    assert!(html.contains("Page not found"));
}

async fn signed_out_visitors_are_sent_to_sign_in_and_reviewers_are_kept_out_of_admin_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let page = |client: &reqwest::Client, path: &str| client.get(app.url(path)).header("accept", "text/html").send();
    let response = page(&app.client, "/settings/users").await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/login?next=/settings/users");

    let (reviewer, _) = app.signed_in("rev@example.com", Role::Reviewer).await;
    let response = page(&reviewer, "/settings/users").await.unwrap();
    assert_eq!(response.status(), 403);
    let html = response.text().await.unwrap();
    assert!(html.contains("Not allowed"));
    assert!(!html.contains("Add a user"));
    // Links by their address: the markup around a link's text carries hydration markers.
    let link = |path: &str| format!("<a href=\"{path}\"");
    assert!(html.contains(&link("/queues")), "the navigation is there");
    assert!(!html.contains(&link("/settings")), "a reviewer's navigation has no Settings link");

    let queues = page(&reviewer, "/queues").await.unwrap().text().await.unwrap();
    assert!(queues.contains(&link("/queues")) && !queues.contains(&link("/escalations")));
    let (lead, _) = app.signed_in("lead@example.com", Role::Lead).await;
    let queues = page(&lead, "/queues").await.unwrap().text().await.unwrap();
    assert!(queues.contains(&link("/escalations")) && !queues.contains(&link("/settings")));
}
