//! Sign-in, sign-out, sessions, throttling, and sign-in without JavaScript.

use crate::helpers::{Backend, PASSWORD, client, error_kind, session_cookie, spawn_app, spawn_app_with};
use crate::on_both_backends;
use gatehouse::domain::Role;
use gatehouse::storage::session_store::RECENT_FOR;

on_both_backends!(
    sign_in_and_out,
    session_id_is_cycled_at_sign_in_and_dead_after_sign_out,
    wrong_password_and_unknown_email_get_the_same_answer,
    disabled_user_cannot_sign_in,
    repeated_failures_slow_down_then_lock,
    form_post_without_javascript_redirects_and_shows_errors,
    session_cookie_is_http_only_and_same_site,
    sessions_slide_while_used_without_a_write_per_request,
    a_sign_out_ends_the_session_on_every_instance_within_a_second,
);

async fn sign_in_and_out(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("rev@example.com", Role::Reviewer).await;
    assert!(app.me(&app.client).await.is_null());

    let response = app.call("auth/login", &[("email", " REV@example.com "), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), 200);
    let user: serde_json::Value = response.json().await.unwrap();
    assert_eq!(user["email"], "rev@example.com");
    assert_eq!(app.me(&app.client).await["role"], "reviewer");

    assert_eq!(app.call("auth/logout", &[]).await.status(), 200);
    assert!(app.me(&app.client).await.is_null());
}

async fn session_id_is_cycled_at_sign_in_and_dead_after_sign_out(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("a@example.com", Role::Reviewer).await;
    let login = || app.call("auth/login", &[("email", "a@example.com"), ("password", PASSWORD)]);
    let first = session_cookie(login().await.headers()).expect("cookie at first sign-in");
    let second = session_cookie(login().await.headers()).expect("cookie at second sign-in");
    assert_ne!(first, second, "the session id must change at sign-in");

    // Replaying the old cookie after sign-out must not work.
    assert_eq!(app.call("auth/logout", &[]).await.status(), 200);
    let replay = reqwest::Client::new()
        .post(app.url("/api/auth/me"))
        .header("cookie", format!("gatehouse_session={second}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.json::<serde_json::Value>().await.unwrap(), serde_json::Value::Null);
}

async fn wrong_password_and_unknown_email_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("a@example.com", Role::Reviewer).await;
    let (status, wrong) =
        error_kind(app.call("auth/login", &[("email", "a@example.com"), ("password", "not the password")]).await).await;
    assert_eq!(status, 401);
    let (status, unknown) =
        error_kind(app.call("auth/login", &[("email", "nobody@example.com"), ("password", "not the password")]).await)
            .await;
    assert_eq!(status, 401);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["kind"], "invalid_credentials");
    assert!(app.me(&app.client).await.is_null());
}

async fn disabled_user_cannot_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.add_user("a@example.com", Role::Reviewer).await;
    gatehouse::users::server::set_disabled(&app.db, &gatehouse::storage::audit::Actor::Cli, id, true).await.unwrap();
    let (status, body) =
        error_kind(app.call("auth/login", &[("email", "a@example.com"), ("password", PASSWORD)]).await).await;
    assert_eq!(status, 409);
    assert!(body["message"].as_str().unwrap().contains("disabled"));
    assert!(app.me(&app.client).await.is_null());
}

async fn repeated_failures_slow_down_then_lock(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.login_free_failures = 2;
        s.login_lock_after = 4;
    })
    .await;
    app.add_user("a@example.com", Role::Reviewer).await;
    let app = &app;
    let attempt = |password: &'static str| async move {
        app.call("auth/login", &[("email", "a@example.com"), ("password", password)]).await
    };
    for _ in 0..2 {
        assert_eq!(attempt("wrong password!").await.status(), 401);
    }
    // Third failure is allowed but earns a wait; the next attempt, even correct, must wait.
    assert_eq!(attempt("wrong password!").await.status(), 401);
    let response = attempt(PASSWORD).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let (_, body) = error_kind(response).await;
    assert!(body["message"].as_str().unwrap().contains("Too many failed sign-in attempts"), "{body}");
    assert!(app.me(&app.client).await.is_null());

    // After the wait, one more failure reaches the limit and locks the account.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(attempt("wrong password!").await.status(), 401);
    let (status, body) = error_kind(attempt(PASSWORD).await).await;
    assert_eq!(status, 429);
    assert!(body["message"].as_str().unwrap().contains("locked"), "{body}");

    // Another account from the same client is not locked.
    app.add_user("b@example.com", Role::Reviewer).await;
    let other = app.call("auth/login", &[("email", "b@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(other.status(), 200);
}

async fn form_post_without_javascript_redirects_and_shows_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("a@example.com", Role::Reviewer).await;
    let browser = client();
    let post = |password: &'static str| {
        browser
            .post(app.url("/api/auth/login"))
            .header("accept", "text/html")
            .header("referer", app.url("/login"))
            .form(&[("email", "a@example.com"), ("password", password), ("next", "")])
            .send()
    };
    let refused = post("not the password").await.unwrap();
    assert_eq!(refused.status(), 302);
    let location = refused.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("__err="), "{location}");
    let page = browser.get(&location).header("accept", "text/html").send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Email or password is incorrect."), "the error is shown on the page");

    let accepted = post(PASSWORD).await.unwrap();
    assert_eq!(accepted.status(), 302);
    assert_eq!(accepted.headers()["location"], "/queues");
    let queues = browser.get(app.url("/queues")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(queues.status(), 200);
    assert!(queues.text().await.unwrap().contains("<h1>Queues</h1>"));
}

async fn session_cookie_is_http_only_and_same_site(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("a@example.com", Role::Reviewer).await;
    let response = app.call("auth/login", &[("email", "a@example.com"), ("password", PASSWORD)]).await;
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP by default: {cookie}");

    let secure = spawn_app_with(Backend::Sqlite, |s| s.public_url = Some("https://review.example.com".into())).await;
    secure.add_user("a@example.com", Role::Reviewer).await;
    let response = secure.call("auth/login", &[("email", "a@example.com"), ("password", PASSWORD)]).await;
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
}

/// A session's idle time restarts while it is used: activity is recorded once an hour (not on
/// every request), and each record pushes the expiry a full idle period ahead.
async fn sessions_slide_while_used_without_a_write_per_request(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("a@example.com", Role::Reviewer).await;
    let response = app.call("auth/login", &[("email", "a@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.me(&app.client).await["email"], "a@example.com");
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let session = || async {
        sqlx::query_as::<_, (String, String, i64)>("select id, data, expires_at from sessions")
            .fetch_one(app.db.pool())
            .await
            .unwrap()
    };
    let set = |id: String, data: serde_json::Value, expires_at: i64| {
        let db = app.db.clone();
        async move {
            sqlx::query("update sessions set data = $1, expires_at = $2 where id = $3")
                .bind(data.to_string())
                .bind(expires_at)
                .bind(id)
                .execute(db.pool())
                .await
                .unwrap();
        }
    };

    // Used within the same hour: nothing is written, the expiry stays where it was.
    let (id, data, _) = session().await;
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["active_hour"], now() / 3_600_000, "activity recorded: {data}");
    let soon = now() + 120_000;
    set(id.clone(), data.clone(), soon).await;
    assert_eq!(app.me(&app.client).await["email"], "a@example.com");
    assert_eq!(session().await.2, soon, "no write on every request");

    // An hour later (as far as the session knows), the next request slides the expiry. The
    // instance reads a session from the database again once its copy is a second old.
    let mut older = data;
    older["active_hour"] = serde_json::json!(now() / 3_600_000 - 1);
    set(id, older, soon).await;
    tokio::time::sleep(RECENT_FOR + std::time::Duration::from_millis(100)).await;
    assert_eq!(app.me(&app.client).await["email"], "a@example.com");
    let slid = session().await.2;
    assert!(slid > now() + 11 * 3_600_000, "the idle period restarted: {slid}");
}

/// Each instance keeps a session it read for a second (`RECENT_FOR`): a sign-out ends the
/// session at once on the instance that signed out, and on the others within that second.
async fn a_sign_out_ends_the_session_on_every_instance_within_a_second(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.another_instance().await;
    app.add_user("a@example.com", Role::Reviewer).await;
    let login = app.call("auth/login", &[("email", "a@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(login.status(), 200);
    let cookie = session_cookie(login.headers()).expect("session cookie");
    // Cookies are per host, not per port: the same client is signed in on both instances.
    assert_eq!(other.me(&app.client).await["email"], "a@example.com", "read (and kept) by the other instance");

    assert_eq!(app.call("auth/logout", &[]).await.status(), 200);
    let replay = |at: &crate::helpers::TestApp| {
        reqwest::Client::new()
            .post(at.url("/api/auth/me"))
            .header("cookie", format!("gatehouse_session={cookie}"))
            .send()
    };
    let here: serde_json::Value = replay(&app).await.unwrap().json().await.unwrap();
    assert!(here.is_null(), "the instance that signed out forgets the session at once: {here}");
    tokio::time::sleep(RECENT_FOR + std::time::Duration::from_millis(100)).await;
    let there: serde_json::Value = replay(&other).await.unwrap().json().await.unwrap();
    assert!(there.is_null(), "the other instance reads the session again within a second: {there}");
}
