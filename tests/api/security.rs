//! Security headers, CSRF protection, body limits, health endpoints, error pages.

use crate::helpers::{Backend, PASSWORD, client, spawn_app, spawn_app_with};
use crate::on_both_backends;
use gatehouse::domain::Role;

on_both_backends!(
    health_and_readiness,
    pages_carry_a_nonce_csp_and_security_headers,
    cross_site_posts_are_refused_and_change_nothing,
    oversize_bodies_get_413_and_change_nothing,
    unknown_pages_get_a_404_page,
    signed_out_visitors_are_sent_to_sign_in_and_reviewers_are_kept_out_of_admin_pages,
    https_instances_send_hsts,
    a_request_that_takes_too_long_is_cut_off,
    an_error_written_into_an_address_shows_only_its_kind,
    a_new_secret_reaches_the_next_page_without_being_stored,
    the_demo_refuses_a_database_with_users_of_its_own,
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

async fn https_instances_send_hsts(backend: Backend) {
    let plain = spawn_app(backend.clone()).await;
    let response = plain.client.get(plain.url("/login")).send().await.unwrap();
    assert!(response.headers().get("strict-transport-security").is_none(), "not over plain HTTP");
    let https = spawn_app_with(backend, |s| s.public_url = Some("https://review.example.com".into())).await;
    for path in ["/login", "/healthz", "/api/v1/openapi.json"] {
        let response = https.client.get(https.url(path)).send().await.unwrap();
        assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000", "{path}");
    }
}

/// A client that starts a request and never finishes its body holds a connection and memory:
/// after the request timeout it is answered 408 and dropped.
async fn a_request_that_takes_too_long_is_cut_off(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.request_timeout_secs = 1).await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    use futures_util::StreamExt;
    let stalled = futures_util::stream::once(async { Ok::<_, std::io::Error>("email=new%40example.com&name=") })
        .chain(futures_util::stream::pending());
    let started = std::time::Instant::now();
    let response = admin
        .post(app.url("/api/users/add"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(stalled))
        .send();
    let response = tokio::time::timeout(std::time::Duration::from_secs(10), response)
        .await
        .expect("the server cut the request off")
        .unwrap();
    assert_eq!(response.status(), 408);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(app.user_count().await, 1);
}

/// A form posted without JavaScript comes back with its error in the address. Anybody can write
/// such an address: its message is shown only when this server sent it to this browser.
async fn an_error_written_into_an_address_shows_only_its_kind(backend: Backend) {
    use base64::Engine;
    let app = spawn_app(backend).await;
    let planted = serde_json::json!({ "kind": "conflict", "message": "Your account is locked: call +1 555 0100" });
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(planted.to_string());
    let address = format!("/login?__path=/api/auth/login&__err={encoded}");
    let page = client().get(app.url(&address)).header("accept", "text/html").send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(!html.contains("555 0100"), "a planted message is not shown");
    assert!(html.contains("That could not be done"), "only the kind's own message is");

    // The server's own error, on its way back to the browser that posted the form, is shown.
    let browser = client();
    app.add_user("a@example.com", Role::Reviewer).await;
    let refused = browser
        .post(app.url("/api/auth/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(&[("email", "a@example.com"), ("password", "not the password"), ("next", "")])
        .send()
        .await
        .unwrap();
    let location = refused.headers()["location"].to_str().unwrap().to_owned();
    let shown = browser.get(&location).header("accept", "text/html").send().await.unwrap();
    assert!(shown.text().await.unwrap().contains("Email or password is incorrect."));
    // The same address in another browser (no cookie from this server) shows the kind only.
    let elsewhere = client().get(&location).header("accept", "text/html").send().await.unwrap();
    let elsewhere = elsewhere.text().await.unwrap();
    assert!(elsewhere.contains("role=\"alert\""), "an alert is still shown");
    assert!(elsewhere.contains("Email or password is incorrect."), "whose kind has one fixed message");
}

/// A key created by a form posted without JavaScript is shown on the next page once; it travels
/// there in a short-lived cookie of the admin's own browser, never in the sessions table. So does
/// a webhook endpoint's signing secret, when the endpoint is added and when its secret is rotated.
async fn a_new_secret_reaches_the_next_page_without_being_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    crate::fixtures::workflow().create(&app).await;
    let created = admin
        .post(app.url("/api/api-keys/create"))
        .header("accept", "text/html")
        .header("referer", app.url("/settings/api-keys"))
        .form(&[("name", "robot"), ("workflows", crate::fixtures::SLUG)])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 302);
    let flash = created
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gatehouse_flash="))
        .expect("the secret's cookie")
        .to_owned();
    assert!(
        flash.contains("HttpOnly") && flash.contains("SameSite=Strict") && flash.contains("Max-Age=120"),
        "{flash}"
    );
    let sessions: Vec<(String,)> = sqlx::query_as("select data from sessions").fetch_all(app.db.pool()).await.unwrap();
    assert!(sessions.iter().all(|(data,)| !data.contains("ghk_") && !data.contains("flash")), "{sessions:?}");

    let page = admin.get(app.url("/settings/api-keys")).header("accept", "text/html").send().await.unwrap();
    let cleared = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("gatehouse_flash=;") && c.contains("Max-Age=0"));
    let html = page.text().await.unwrap();
    assert!(html.contains("The new key robot") || html.contains("ghk_"), "the key is shown once");
    assert!(cleared, "and its cookie removed");
    let again = admin.get(app.url("/settings/api-keys")).header("accept", "text/html").send().await.unwrap();
    assert!(!again.text().await.unwrap().contains("alert info secret"), "not shown twice");

    // A webhook endpoint's signing secret, new or rotated, likewise: on the next page, never in
    // the sessions table.
    let workflow_page = app.url(&format!("/settings/workflows/{}", crate::fixtures::SLUG));
    let post = |endpoint: &str, form: Vec<(&'static str, String)>| {
        admin
            .post(app.url(&format!("/api/{endpoint}")))
            .header("accept", "text/html")
            .header("referer", workflow_page.clone())
            .form(&form)
            .send()
    };
    // An address, not a name: nothing to resolve, and public.
    let hook_url = "https://203.0.113.7/gatehouse";
    let form = vec![
        ("slug", crate::fixtures::SLUG.to_owned()),
        ("url", hook_url.to_owned()),
        ("events[item.approved]", "on".to_owned()),
    ];
    let added = post("webhooks/add", form).await.unwrap();
    assert_eq!(added.status(), 302);
    let (endpoint, secret): (i64, String) =
        sqlx::query_as("select id, secret from webhook_endpoints").fetch_one(app.db.pool()).await.unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    secret_flashed_not_stored(&app, &admin, added, &workflow_page, &secret).await;
    let rotated = post("webhooks/rotate-secret", vec![("endpoint_id", endpoint.to_string())]).await.unwrap();
    assert_eq!(rotated.status(), 302);
    let (new_secret,): (String,) =
        sqlx::query_as("select secret from webhook_endpoints").fetch_one(app.db.pool()).await.unwrap();
    assert_ne!(new_secret, secret);
    secret_flashed_not_stored(&app, &admin, rotated, &workflow_page, &new_secret).await;
}

/// After a form post that made `secret` (answered by `response`): the secret travels in the
/// flash cookie, no row of the sessions table holds it in any form, and `page` shows it once.
async fn secret_flashed_not_stored(
    app: &crate::helpers::TestApp,
    admin: &reqwest::Client,
    response: reqwest::Response,
    page: &str,
    secret: &str,
) {
    use base64::Engine;
    let flash = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("gatehouse_flash="))
        .expect("the secret's cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let carried = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&flash).expect("a base64 cookie");
    let carried: serde_json::Value = serde_json::from_slice(&carried).expect("the flashed secret");
    assert_eq!(carried["value"], secret, "the cookie carries the secret");
    let random_part = secret.strip_prefix("whsec_").unwrap();
    let sessions: Vec<(String, String)> =
        sqlx::query_as("select id, data from sessions").fetch_all(app.db.pool()).await.unwrap();
    assert!(!sessions.is_empty(), "the admin's session is stored");
    for (id, data) in &sessions {
        for stored in [random_part, flash.as_str(), "Signing secret", "flash"] {
            assert!(!id.contains(stored) && !data.contains(stored), "a session holds {stored:?}: {data}");
        }
    }
    let html = admin.get(page).header("accept", "text/html").send().await.unwrap().text().await.unwrap();
    assert!(html.contains(secret), "the secret is shown on the next page");
    let again = admin.get(page).header("accept", "text/html").send().await.unwrap().text().await.unwrap();
    assert!(!again.contains(secret), "once");
}

/// `gatehouse demo` adds an admin whose password is published: never to a real instance.
async fn the_demo_refuses_a_database_with_users_of_its_own(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("real@example.com", Role::Admin).await;
    let url = app.test_db_url();
    let demo = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .env("DATABASE_URL", &url)
            .env("GATEHOUSE_LOG", "warn")
            .args(["demo", "--url", "http://127.0.0.1:9", "--items", "0"])
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = demo(&[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--yes"), "{stderr}");
    assert_eq!(app.user_count().await, 1, "no demo user was added");
    let forced = demo(&["--yes"]);
    let _ = forced; // it goes on to stream to a server that is not there; the users come first
    assert_eq!(app.user_count().await, 5, "with --yes the demo users are added");
}
