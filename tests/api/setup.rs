//! The one-time "create the first admin" step.

use crate::helpers::{Backend, PASSWORD, TestApp, error_kind, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    fresh_instance_needs_setup_and_first_admin_is_signed_in,
    setup_needs_the_token_the_server_printed,
    setup_is_refused_once_a_user_exists,
    mismatched_passwords_create_nothing,
    concurrent_setups_create_exactly_one_admin,
    home_redirects_to_setup_then_to_login,
    pages_render_while_other_instances_start,
);

const FORM: &[(&str, &str)] =
    &[("name", "Ada"), ("email", "ada@example.com"), ("password", PASSWORD), ("password_confirm", PASSWORD)];

/// The setup token the instance issued at start (`gatehouse serve` prints it).
async fn token(app: &TestApp) -> String {
    gatehouse::auth::setup_token::current(&app.db).await.unwrap().expect("a fresh instance has a setup token")
}

/// The setup form as a person who started the server fills it in.
async fn form_with_token(app: &TestApp, form: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut filled = vec![("setup_token", token(app).await)];
    filled.extend(form.iter().map(|(k, v)| (*k, (*v).to_owned())));
    filled
}

async fn call_setup(app: &TestApp, form: &[(&'static str, &str)]) -> reqwest::Response {
    let filled = form_with_token(app, form).await;
    let pairs: Vec<(&str, &str)> = filled.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.call("setup/first-admin", &pairs).await
}

async fn fresh_instance_needs_setup_and_first_admin_is_signed_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let status: bool = app.call("setup/status", &[]).await.json().await.unwrap();
    assert!(status);

    let response = call_setup(&app, FORM).await;
    assert_eq!(response.status(), 200);
    let me = app.me(&app.client).await;
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["role"], "admin");
    let status: bool = app.call("setup/status", &[]).await.json().await.unwrap();
    assert!(!status);
    assert_eq!(app.audit_actions().await, vec!["setup.first_admin"]);
    let left = gatehouse::auth::setup_token::current(&app.db).await.unwrap();
    assert_eq!(left, None, "the token is used up");
}

async fn setup_needs_the_token_the_server_printed(backend: Backend) {
    let app = spawn_app(backend).await;
    let real = token(&app).await;
    assert!(real.len() >= 32, "{real}");
    let mut wrong = real.clone();
    wrong.replace_range(..1, if real.starts_with('0') { "1" } else { "0" });
    for given in ["", wrong.as_str()] {
        let mut form = vec![("setup_token", given)];
        form.extend_from_slice(FORM);
        let (status, body) = error_kind(app.call("setup/first-admin", &form).await).await;
        assert_eq!((status, body["field"].as_str()), (422, Some("setup_token")), "{body}");
    }
    let (status, body) = error_kind(app.call("setup/first-admin", FORM).await).await;
    assert_eq!(status, 400, "no token at all: {body}");
    assert_eq!(app.user_count().await, 0);
    assert!(app.me(&app.client).await.is_null());

    // Another instance on the same database prints the same token, until it is used.
    let other = app.another_instance().await;
    assert_eq!(token(&other).await, real);
    assert_eq!(call_setup(&other, FORM).await.status(), 200);
    assert_eq!(app.user_count().await, 1);
}

async fn setup_is_refused_once_a_user_exists(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("grace@example.com", gatehouse::domain::Role::Reviewer).await;
    // The token went with the first user (here one the command line made).
    let mut form = vec![("setup_token", "whatever was printed before")];
    form.extend_from_slice(FORM);
    let (status, body) = error_kind(app.call("setup/first-admin", &form).await).await;
    assert_eq!(status, 409);
    assert_eq!(body["kind"], "conflict");
    assert_eq!(app.user_count().await, 1);
    assert!(app.me(&app.client).await.is_null());
}

async fn mismatched_passwords_create_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let form = [
        ("name", "Ada"),
        ("email", "ada@example.com"),
        ("password", PASSWORD),
        ("password_confirm", "something else entirely"),
    ];
    let (status, body) = error_kind(call_setup(&app, &form).await).await;
    assert_eq!(status, 422);
    assert_eq!(body["field"], "password_confirm");
    let form = [("name", "Ada"), ("email", "not-an-email"), ("password", PASSWORD), ("password_confirm", PASSWORD)];
    let (status, body) = error_kind(call_setup(&app, &form).await).await;
    assert_eq!(status, 422);
    assert_eq!(body["field"], "email");
    assert_eq!(app.user_count().await, 0);
}

async fn concurrent_setups_create_exactly_one_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = token(&app).await;
    let attempts = (0..8).map(|i| {
        let client = crate::helpers::client();
        let url = app.url("/api/setup/first-admin");
        let token = token.clone();
        async move {
            let email = format!("admin{i}@example.com");
            let form = [
                ("setup_token", token.as_str()),
                ("name", "A"),
                ("email", email.as_str()),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ];
            client.post(url).form(&form).send().await.unwrap().status().as_u16()
        }
    });
    let statuses = futures_join_all(attempts).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    assert_eq!(app.user_count().await, 1);
}

async fn home_redirects_to_setup_then_to_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let home = || app.client.get(app.url("/")).header("accept", "text/html").send();
    let response = home().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/setup");

    app.add_user("grace@example.com", gatehouse::domain::Role::Reviewer).await;
    let response = home().await.unwrap();
    assert_eq!(response.headers()["location"], "/login");
}

/// Building an instance generates the page routes by rendering the app with resource loading
/// suppressed process-wide; a page whose resource was first polled meanwhile never finished
/// (leptos-rs/leptos#4773). Routes are now generated once per process. Before that, this test
/// stalled within a few instances, as did page tests now and then under the full suite.
async fn pages_render_while_other_instances_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let pages = (0..4).map(|_| {
        let (client, url, done) = (crate::helpers::client(), app.url("/"), done_rx.clone());
        async move {
            let mut rendered = 0;
            while !*done.borrow() {
                let request = client.get(&url).header("accept", "text/html").send();
                let response = tokio::time::timeout(std::time::Duration::from_secs(10), request)
                    .await
                    .expect("a page stalled while another instance started")
                    .unwrap();
                assert_eq!(response.headers()["location"], "/setup");
                rendered += 1;
            }
            rendered
        }
    });
    let pages = pages.map(tokio::spawn).collect::<Vec<_>>();
    let mut instances = Vec::new();
    for _ in 0..6 {
        instances.push(app.another_instance().await);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    done_tx.send(true).unwrap();
    for page in pages {
        assert!(page.await.unwrap() > 0, "every page loop rendered at least once");
    }
}

/// Runs futures concurrently on the runtime and collects their outputs in order.
pub async fn futures_join_all<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
