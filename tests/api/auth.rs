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
    parallel_wrong_guesses_meet_the_waits_and_lock_of_sequential_ones,
    a_right_password_after_failures_leaves_no_failure_of_its_own,
    the_client_is_the_forwarded_one_only_behind_a_trusted_proxy,
    form_post_without_javascript_redirects_and_shows_errors,
    session_cookie_is_http_only_and_same_site,
    sessions_slide_while_used_without_a_write_per_request,
    a_sign_out_ends_the_session_on_every_instance_within_a_second,
    unknown_emails_are_throttled_like_accounts,
    an_overlong_password_is_refused_before_any_work,
    disabling_ends_sessions_for_good,
    a_session_ended_while_a_request_held_it_stays_ended,
    throttles_quiet_for_a_day_are_forgotten,
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
    let (status, disabled) =
        error_kind(app.call("auth/login", &[("email", "a@example.com"), ("password", PASSWORD)]).await).await;
    // The right password of a disabled account is answered as a wrong one: the answer tells a
    // guesser nothing.
    assert_eq!(status, 401);
    let (_, wrong) =
        error_kind(app.call("auth/login", &[("email", "a@example.com"), ("password", "not the password")]).await).await;
    assert_eq!(disabled, wrong);
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

/// What `attempts` wrong passwords for `email` answer: statuses in the order of the answers'
/// kinds (sorted), and the failures stored for the account afterwards.
async fn guesses(app: &crate::helpers::TestApp, email: &str, attempts: usize, parallel: bool) -> (Vec<u16>, i64) {
    let guess = || async move {
        app.call_with(&client(), "auth/login", &[("email", email), ("password", "wrong password!")])
            .await
            .status()
            .as_u16()
    };
    let mut statuses = if parallel {
        futures_util::future::join_all((0..attempts).map(|_| guess())).await
    } else {
        let mut statuses = Vec::with_capacity(attempts);
        for _ in 0..attempts {
            statuses.push(guess().await);
        }
        statuses
    };
    statuses.sort_unstable();
    let (failures,): (i64,) = sqlx::query_as("select failures from login_throttle where key = $1")
        .bind(format!("account:{email}"))
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    (statuses, failures)
}

/// Twenty guesses at once against one account are judged one after another: the same number get
/// through, the same are refused, and the account holds the same failures, as twenty in a row.
async fn parallel_wrong_guesses_meet_the_waits_and_lock_of_sequential_ones(backend: Backend) {
    // The default policy: three free failures, then waits that the quick guesses do not sit out.
    let app = spawn_app(backend.clone()).await;
    app.add_user("seq@example.com", Role::Reviewer).await;
    app.add_user("par@example.com", Role::Reviewer).await;
    let sequential = guesses(&app, "seq@example.com", 20, false).await;
    let parallel = guesses(&app, "par@example.com", 20, true).await;
    assert_eq!(sequential.0.iter().filter(|s| **s == 401).count(), 4, "{sequential:?}");
    assert_eq!(parallel, sequential, "parallel (statuses sorted, failures stored) against sequential");

    // No waits, a lock after five failures: the lock engages at the fifth either way.
    let app = spawn_app_with(backend, |s| {
        s.login_free_failures = 100;
        s.login_lock_after = 5;
    })
    .await;
    app.add_user("seq@example.com", Role::Reviewer).await;
    app.add_user("par@example.com", Role::Reviewer).await;
    let sequential = guesses(&app, "seq@example.com", 20, false).await;
    let parallel = guesses(&app, "par@example.com", 20, true).await;
    assert_eq!(sequential, ([vec![401; 5], vec![429; 15]].concat(), 5));
    assert_eq!(parallel, sequential);
    let locked = app.call("auth/login", &[("email", "par@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(locked.status(), 429, "the right password is refused while the lock lasts");
}

/// An attempt counts as a failure while its password is checked; a right password takes that
/// back, for the client as for the account.
async fn a_right_password_after_failures_leaves_no_failure_of_its_own(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("a@example.com", Role::Reviewer).await;
    let wrong = app.call("auth/login", &[("email", "a@example.com"), ("password", "wrong password!")]).await;
    assert_eq!(wrong.status(), 401);
    let right = app.call("auth/login", &[("email", "a@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(right.status(), 200);
    let rows: Vec<(String, i64)> =
        sqlx::query_as("select key, failures from login_throttle order by key").fetch_all(app.db.pool()).await.unwrap();
    assert_eq!(
        rows,
        vec![("client:127.0.0.1".to_owned(), 1)],
        "the account forgotten, the client's one wrong guess kept"
    );
}

/// Behind a trusted proxy the client is who the proxy says (and each is throttled on its own);
/// from anyone else the forwarding headers are ignored.
async fn the_client_is_the_forwarded_one_only_behind_a_trusted_proxy(backend: Backend) {
    let fail = |app: &crate::helpers::TestApp, header: (&'static str, &'static str)| {
        let request = app
            .client
            .post(app.url("/api/auth/login"))
            .header(header.0, header.1)
            .form(&[("email", "a@example.com"), ("password", "wrong password!")]);
        async move { assert_eq!(request.send().await.unwrap().status(), 401) }
    };
    let clients = |app: &crate::helpers::TestApp| {
        let pool = app.db.pool().clone();
        async move {
            let rows: Vec<(String,)> =
                sqlx::query_as("select key from login_throttle where key like 'client:%' order by key")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            rows.into_iter().map(|(key,)| key).collect::<Vec<_>>()
        }
    };

    let behind = spawn_app_with(backend.clone(), |s| s.trusted_proxies = "127.0.0.1/32".parse().unwrap()).await;
    fail(&behind, ("x-forwarded-for", "192.0.2.1, 203.0.113.5")).await;
    fail(&behind, ("forwarded", "for=\"[2001:db8::7]:4711\";proto=https")).await;
    assert_eq!(clients(&behind).await, ["client:2001:db8::7", "client:203.0.113.5"]);

    let exposed = spawn_app(backend).await;
    fail(&exposed, ("x-forwarded-for", "203.0.113.5")).await;
    fail(&exposed, ("forwarded", "for=198.51.100.7")).await;
    assert_eq!(clients(&exposed).await, ["client:127.0.0.1"], "headers from an untrusted peer are ignored");
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

/// Guessing passwords for an email nobody has meets the same waits and lock as for an account.
async fn unknown_emails_are_throttled_like_accounts(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.login_free_failures = 100;
        s.login_lock_after = 5;
    })
    .await;
    app.add_user("real@example.com", Role::Reviewer).await;
    let known = guesses(&app, "real@example.com", 8, false).await;
    let unknown = guesses(&app, "nobody@example.com", 8, false).await;
    assert_eq!(known, ([vec![401; 5], vec![429; 3]].concat(), 5));
    assert_eq!(unknown, known);
}

/// Argon2's work grows with its input: a password over the cap is refused (422) before it is
/// hashed or counted, at sign-in and as the current password alike.
async fn an_overlong_password_is_refused_before_any_work(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("a@example.com", Role::Reviewer).await;
    let long = "x".repeat(gatehouse::domain::Password::MAX_CHARS + 1);
    let (status, body) =
        error_kind(app.call("auth/login", &[("email", "a@example.com"), ("password", long.as_str())]).await).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("password")), "{body}");
    let (throttled,): (i64,) =
        sqlx::query_as("select count(*) from login_throttle").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(throttled, 0, "nothing was counted: the attempt never started");
    let at_cap = "x".repeat(gatehouse::domain::Password::MAX_CHARS);
    let refused = app.call("auth/login", &[("email", "a@example.com"), ("password", at_cap.as_str())]).await;
    assert_eq!(refused.status(), 401, "a password at the cap is checked (and wrong)");

    let (user, _) = app.signed_in("b@example.com", Role::Reviewer).await;
    let form = [
        ("current_password", long.as_str()),
        ("new_password", "a brand new password"),
        ("new_password_confirm", "a brand new password"),
    ];
    let (status, body) = error_kind(app.call_with(&user, "account/change-password", &form).await).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("current_password")), "{body}");
}

/// A session left idle while its account was disabled does not come back when the account is
/// enabled again: disabling moves the account's sign-in epoch.
async fn disabling_ends_sessions_for_good(backend: Backend) {
    use gatehouse::storage::audit::Actor;
    let app = spawn_app(backend).await;
    let (idle, id) = app.signed_in("idle@example.com", Role::Reviewer).await;
    assert_eq!(app.me(&idle).await["email"], "idle@example.com");
    gatehouse::users::server::set_disabled(&app.db, &Actor::Cli, id, true).await.unwrap();
    gatehouse::users::server::set_disabled(&app.db, &Actor::Cli, id, false).await.unwrap();
    // This instance may accept its cached copy of the user for up to a second.
    crate::helpers::wait_until(std::time::Duration::from_secs(5), "the disabled session to end", async || {
        app.me(&idle).await.is_null()
    })
    .await;
    // The account itself works again.
    let fresh = client();
    let login = app.call_with(&fresh, "auth/login", &[("email", "idle@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(login.status(), 200);
}

/// Sign-out deletes the session's row; a request that loaded the session before and saves it
/// afterwards (its data changed) must not write it back.
async fn a_session_ended_while_a_request_held_it_stays_ended(backend: Backend) {
    use gatehouse::storage::session_store::DbSessionStore;
    use tower_sessions::SessionStore;
    use tower_sessions::session::{Id, Record};
    let app = spawn_app(backend).await;
    let id = app.add_user("a@example.com", Role::Reviewer).await;
    let store = DbSessionStore::new(app.db.clone());
    let mut record = Record {
        id: Id::default(),
        data: [("user_id".to_owned(), serde_json::json!(id))].into_iter().collect(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    store.create(&mut record).await.unwrap();
    let held = store.load(&record.id).await.unwrap().expect("the session as a request loaded it");

    store.delete(&record.id).await.unwrap(); // signed out meanwhile
    let mut changed = held.clone();
    changed.data.insert("active_hour".to_owned(), serde_json::json!(1));
    store.save(&changed).await.unwrap();

    let rows: (i64,) = sqlx::query_as("select count(*) from sessions where id = $1")
        .bind(record.id.to_string())
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(rows.0, 0, "the ended session was not written back");
    assert!(DbSessionStore::new(app.db.clone()).load(&record.id).await.unwrap().is_none());
    assert!(store.load(&record.id).await.unwrap().is_none(), "nor kept in this instance's copy");
}

/// Guessed emails and addresses leave throttle rows behind; housekeeping removes those quiet for a
/// day (their failures are forgotten by then anyway), and keeps recent and locked ones.
async fn throttles_quiet_for_a_day_are_forgotten(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = gatehouse::storage::clock::now_ms();
    let day = 24 * 3_600_000;
    for (key, last_failure, locked_until) in [
        ("account:old@example.com", now - day - 1000, 0),
        ("account:recent@example.com", now - 1000, 0),
        ("client:192.0.2.1", now - day - 1000, now + 60_000),
    ] {
        sqlx::query("insert into login_throttle (key, failures, last_failure_at, locked_until) values ($1, 5, $2, $3)")
            .bind(key)
            .bind(last_failure)
            .bind(locked_until)
            .execute(app.db.pool())
            .await
            .unwrap();
    }
    // The server's own housekeeping (which runs this at start and every ten minutes) may have
    // been first: either way the old row goes, and only it.
    assert!(gatehouse::auth::throttle::forget_quiet(&app.db, now).await.unwrap() <= 1);
    let left: Vec<(String,)> =
        sqlx::query_as("select key from login_throttle order by key").fetch_all(app.db.pool()).await.unwrap();
    let left: Vec<&str> = left.iter().map(|(k,)| k.as_str()).collect();
    assert_eq!(left, ["account:recent@example.com", "client:192.0.2.1"]);
}
