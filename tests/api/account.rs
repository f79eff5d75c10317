//! A person's own account: changing their password, listing and ending their sessions, and
//! the password an admin chose that must be replaced before anything else.

use crate::helpers::{Backend, PASSWORD, TestApp, client, error_kind, session_cookie, spawn_app, spawn_app_with};
use crate::on_both_backends;
use gatehouse::domain::Role;
use serde_json::Value;

on_both_backends!(
    a_password_change_ends_the_other_sessions_and_keeps_this_one,
    a_wrong_current_password_or_bad_new_one_changes_nothing,
    guessing_the_current_password_is_throttled_like_signing_in,
    sessions_are_listed_with_their_browser_and_one_can_be_ended,
    nobody_ends_another_persons_session,
    ending_all_other_sessions_keeps_only_this_one,
    an_admin_chosen_password_must_be_replaced_before_anything_else,
    the_account_functions_need_a_signed_in_user,
);

const NEW_PASSWORD: &str = "a brand new password";

async fn change(app: &TestApp, who: &reqwest::Client, current: &str, new: &str, confirm: &str) -> reqwest::Response {
    let form = [("current_password", current), ("new_password", new), ("new_password_confirm", confirm)];
    app.call_with(who, "account/change-password", &form).await
}

async fn sessions(app: &TestApp, who: &reqwest::Client) -> Vec<Value> {
    let response = app.call_with(who, "account/sessions", &[]).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> (reqwest::Client, reqwest::Response) {
    let who = client();
    let response = app.call_with(&who, "auth/login", &[("email", email), ("password", password)]).await;
    (who, response)
}

async fn password_hash(app: &TestApp, id: i64) -> String {
    gatehouse::users::server::find_by_id(&app.db, id).await.unwrap().unwrap().password_hash
}

async fn a_password_change_ends_the_other_sessions_and_keeps_this_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (here, _) = app.signed_in("rev@example.com", Role::Reviewer).await;
    let (elsewhere, response) = sign_in(&app, "rev@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(sessions(&app, &here).await.len(), 2);

    let response = change(&app, &here, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert!(session_cookie(response.headers()).is_some(), "this session carries on under a new id");
    assert_eq!(app.me(&here).await["email"], "rev@example.com", "this session stays signed in");
    assert!(app.me(&elsewhere).await.is_null(), "the other session ended");
    let left = sessions(&app, &here).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["current"], true);

    assert_eq!(sign_in(&app, "rev@example.com", PASSWORD).await.1.status(), 401, "the old password is gone");
    assert_eq!(sign_in(&app, "rev@example.com", NEW_PASSWORD).await.1.status(), 200);
    assert!(app.audit_actions().await.contains(&"user.change_password".to_owned()));
}

async fn a_wrong_current_password_or_bad_new_one_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (here, id) = app.signed_in("rev@example.com", Role::Reviewer).await;
    let (elsewhere, _) = sign_in(&app, "rev@example.com", PASSWORD).await;
    let before = password_hash(&app, id).await;
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        ("wrong password!", NEW_PASSWORD, NEW_PASSWORD, 422, "current_password"),
        ("", NEW_PASSWORD, NEW_PASSWORD, 422, "current_password"),
        (PASSWORD, "short", "short", 422, "new_password"),
        (PASSWORD, NEW_PASSWORD, "another new password", 422, "new_password_confirm"),
        (PASSWORD, PASSWORD, PASSWORD, 422, "new_password"),
    ];
    for (current, new, confirm, status, field) in cases {
        let (got, body) = error_kind(change(&app, &here, current, new, confirm).await).await;
        assert_eq!((got, body["field"].as_str()), (*status, Some(*field)), "{current:?} {new:?} {confirm:?}: {body}");
    }
    let (status, _) =
        error_kind(app.call_with(&here, "account/change-password", &[("current_password", PASSWORD)]).await).await;
    assert_eq!(status, 400, "missing fields");

    assert_eq!(password_hash(&app, id).await, before, "the password is unchanged");
    assert_eq!(app.me(&here).await["email"], "rev@example.com");
    assert_eq!(app.me(&elsewhere).await["email"], "rev@example.com", "no session ended");
    assert_eq!(sign_in(&app, "rev@example.com", PASSWORD).await.1.status(), 200);
    assert!(!app.audit_actions().await.contains(&"user.change_password".to_owned()));
}

/// A stolen session cannot try passwords faster than the sign-in form allows: a wrong current
/// password counts against the account, and the lock stops even the right one.
async fn guessing_the_current_password_is_throttled_like_signing_in(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.login_free_failures = 100;
        s.login_lock_after = 3;
    })
    .await;
    let (here, id) = app.signed_in("rev@example.com", Role::Reviewer).await;
    let before = password_hash(&app, id).await;
    for _ in 0..3 {
        let (status, body) = error_kind(change(&app, &here, "wrong password!", NEW_PASSWORD, NEW_PASSWORD).await).await;
        assert_eq!(status, 422, "{body}");
    }
    let (status, body) = error_kind(change(&app, &here, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await).await;
    assert_eq!(status, 429, "locked after three wrong guesses: {body}");
    assert_eq!(password_hash(&app, id).await, before);
    assert_eq!(
        sign_in(&app, "rev@example.com", PASSWORD).await.1.status(),
        429,
        "the account is locked for sign-in too"
    );
}

async fn sessions_are_listed_with_their_browser_and_one_can_be_ended(backend: Backend) {
    let app = spawn_app(backend).await;
    let (here, _) = app.signed_in("rev@example.com", Role::Reviewer).await;
    let firefox = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
        .build()
        .unwrap();
    let response = app.call_with(&firefox, "auth/login", &[("email", "rev@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), 200);
    let firefox_cookie = session_cookie(response.headers()).unwrap();

    let listed = sessions(&app, &here).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["current"], true, "the current session comes first");
    let other = &listed[1];
    assert_eq!(other["current"], false);
    assert_eq!(other["device"], "Firefox on Linux");
    assert_eq!(other["client_ip"], "127.0.0.1");
    assert!(other["signed_in_at_ms"].as_i64().unwrap() > 0);
    let handle = other["handle"].as_str().unwrap().to_owned();
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains(&firefox_cookie) && !firefox_cookie.contains(&handle), "no session id is shown");

    let own = listed[0]["handle"].as_str().unwrap();
    let (status, _) = error_kind(app.call_with(&here, "account/end-session", &[("handle", own)]).await).await;
    assert_eq!(status, 409, "the current session is ended by signing out");
    let (status, _) =
        error_kind(app.call_with(&here, "account/end-session", &[("handle", "0123456789abcdef")]).await).await;
    assert_eq!(status, 404);
    assert_eq!(sessions(&app, &here).await.len(), 2, "nothing ended so far");

    let response = app.call_with(&here, "account/end-session", &[("handle", &handle)]).await;
    assert_eq!(response.status(), 200);
    assert!(app.me(&firefox).await.is_null(), "the ended session is signed out at once");
    assert_eq!(app.me(&here).await["email"], "rev@example.com");
    assert_eq!(sessions(&app, &here).await.len(), 1);
    assert!(app.audit_actions().await.contains(&"session.end".to_owned()));
}

async fn nobody_ends_another_persons_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mallory, _) = app.signed_in("mallory@example.com", Role::Admin).await;
    let (rita, _) = app.signed_in("rita@example.com", Role::Reviewer).await;
    let handle = sessions(&app, &rita).await[0]["handle"].as_str().unwrap().to_owned();
    assert_eq!(sessions(&app, &mallory).await.len(), 1, "each sees only their own sessions");

    let (status, _) = error_kind(app.call_with(&mallory, "account/end-session", &[("handle", &handle)]).await).await;
    assert_eq!(status, 404, "another person's session is unknown, even to an admin");
    let ended: Value = app.call_with(&mallory, "account/end-other-sessions", &[]).await.json().await.unwrap();
    assert_eq!(ended, 0);
    assert_eq!(app.me(&rita).await["email"], "rita@example.com", "still signed in");
}

async fn ending_all_other_sessions_keeps_only_this_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (here, _) = app.signed_in("rev@example.com", Role::Reviewer).await;
    let (second, _) = sign_in(&app, "rev@example.com", PASSWORD).await;
    let (third, _) = sign_in(&app, "rev@example.com", PASSWORD).await;
    let (colleague, _) = app.signed_in("colleague@example.com", Role::Reviewer).await;

    let response = app.call_with(&here, "account/end-other-sessions", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), 2);
    assert!(app.me(&second).await.is_null());
    assert!(app.me(&third).await.is_null());
    assert_eq!(app.me(&here).await["email"], "rev@example.com");
    assert_eq!(app.me(&colleague).await["email"], "colleague@example.com", "other people's sessions stay");
    assert_eq!(sessions(&app, &here).await.len(), 1);
}

async fn an_admin_chosen_password_must_be_replaced_before_anything_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let form = [("email", "new@example.com"), ("name", "New"), ("role", "reviewer"), ("password", PASSWORD)];
    let added: Value = app.call_with(&admin, "users/add", &form).await.json().await.unwrap();
    let id = added["id"].as_i64().unwrap();

    let (new, response) = sign_in(&app, "new@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["location"], "/account", "sign-in leads to the account page");
    assert_eq!(app.me(&new).await["must_change_password"], true);
    for (endpoint, form) in [("review/queues", vec![]), ("users/list", vec![])] {
        let (status, body) = error_kind(app.call_with(&new, endpoint, &form).await).await;
        assert_eq!((status, body["kind"].as_str()), (403, Some("password_change_required")), "{endpoint}: {body}");
    }
    assert_eq!(sessions(&app, &new).await.len(), 1, "the account page works meanwhile");

    let response = change(&app, &new, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["location"], "/queues", "then on to work");
    assert_eq!(app.me(&new).await["must_change_password"], false);
    assert_eq!(app.call_with(&new, "review/queues", &[]).await.status(), 200);

    // A reset by an admin makes the password temporary again.
    let form = [("user_id", id.to_string()), ("new_password", "an admin's choice again".to_owned())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(app.call_with(&admin, "users/reset-password", &form).await.status(), 200);
    let (again, response) = sign_in(&app, "new@example.com", "an admin's choice again").await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.me(&again).await["must_change_password"], true);
    let (status, _) = error_kind(app.call_with(&again, "review/queues", &[]).await).await;
    assert_eq!(status, 403);

    // Users added by the command line (and the first admin) chose their own password.
    assert_eq!(app.me(&admin).await["must_change_password"], false);
}

async fn the_account_functions_need_a_signed_in_user(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("rev@example.com", Role::Reviewer).await;
    let anonymous = client();
    let calls: [(&str, Vec<(&str, &str)>); 4] = [
        ("account/sessions", vec![]),
        (
            "account/change-password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        ),
        ("account/end-session", vec![("handle", "0123456789abcdef")]),
        ("account/end-other-sessions", vec![]),
    ];
    for (endpoint, form) in calls {
        let (status, body) = error_kind(app.call_with(&anonymous, endpoint, &form).await).await;
        assert_eq!((status, body["kind"].as_str()), (401, Some("unauthenticated")), "{endpoint}");
    }
    assert_eq!(sign_in(&app, "rev@example.com", PASSWORD).await.1.status(), 200, "the password is unchanged");
}
