//! The admin users page's server functions, and the role guard on each of them.

use crate::helpers::{Backend, PASSWORD, client, error_kind, spawn_app};
use crate::on_both_backends;
use gatehouse::domain::Role;
use serde_json::Value;

on_both_backends!(
    admin_adds_lists_and_changes_users,
    bad_input_is_refused_and_changes_nothing,
    reviewer_and_lead_get_403_and_nothing_changes,
    anonymous_gets_401,
    the_last_admin_cannot_be_demoted_or_disabled,
    disabling_ends_the_users_sessions,
    password_reset_ends_sessions_and_replaces_the_password,
    another_instance_sees_a_change_within_a_second_and_never_signs_out_wrongly,
);

async fn admin_adds_lists_and_changes_users(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let added = app
        .call_with(
            &admin,
            "users/add",
            &[("email", "Rev@Example.com"), ("name", ""), ("role", "reviewer"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(added.status(), 200);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["email"], "rev@example.com");
    assert_eq!(added["name"], "rev", "name defaults to the email's local part");
    let id = added["id"].as_i64().unwrap().to_string();

    let changed: Value =
        app.call_with(&admin, "users/set-role", &[("user_id", &id), ("role", "lead")]).await.json().await.unwrap();
    assert_eq!(changed["role"], "lead");
    let disabled: Value = app
        .call_with(&admin, "users/set-disabled", &[("user_id", &id), ("disabled", "true")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(disabled["disabled"], true);

    let list: Vec<Value> = app.call_with(&admin, "users/list", &[]).await.json().await.unwrap();
    assert_eq!(list.len(), 2);
    let listed = list.iter().find(|u| u["email"] == "rev@example.com").unwrap();
    assert_eq!((listed["role"].as_str(), listed["disabled"].as_bool()), (Some("lead"), Some(true)));
    assert!(list.iter().all(|u| u.get("password_hash").is_none()), "hashes never leave the server");
    assert_eq!(app.audit_actions().await, vec!["user.create", "user.create", "user.set_role", "user.disable"]);
}

async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Form, u16, &str)] = &[
        (&[("email", "ADMIN@example.com"), ("name", "x"), ("role", "reviewer"), ("password", PASSWORD)], 422, "email"),
        (&[("email", "no-at-sign"), ("name", "x"), ("role", "reviewer"), ("password", PASSWORD)], 422, "email"),
        (&[("email", "b@example.com"), ("name", "x"), ("role", "reviewer"), ("password", "short")], 422, "password"),
        (&[("email", "b@example.com"), ("name", "x"), ("role", "owner"), ("password", PASSWORD)], 400, ""),
        (&[("email", "b@example.com"), ("name", "x")], 400, ""),
    ];
    for (form, expected, field) in cases {
        let (status, body) = error_kind(app.call_with(&admin, "users/add", form).await).await;
        assert_eq!(status, *expected, "{form:?}: {body}");
        if !field.is_empty() {
            assert_eq!(body["field"], *field, "{form:?}");
        }
    }
    let (status, _) =
        error_kind(app.call_with(&admin, "users/set-role", &[("user_id", "9999"), ("role", "lead")]).await).await;
    assert_eq!(status, 404);
    let (status, _) =
        error_kind(app.call_with(&admin, "users/set-role", &[("user_id", "abc"), ("role", "lead")]).await).await;
    assert_eq!(status, 400);
    assert_eq!(app.user_count().await, 1);
}

async fn reviewer_and_lead_get_403_and_nothing_changes(backend: Backend) {
    let app = spawn_app(backend).await;
    let target = app.add_user("target@example.com", Role::Reviewer).await.to_string();
    for (email, role) in [("rev@example.com", Role::Reviewer), ("lead@example.com", Role::Lead)] {
        let (caller, _) = app.signed_in(email, role).await;
        let before = app.user_count().await;
        let calls: [(&str, Vec<(&str, &str)>); 5] = [
            ("users/list", vec![]),
            ("users/add", vec![("email", "x@example.com"), ("name", "x"), ("role", "admin"), ("password", PASSWORD)]),
            ("users/set-role", vec![("user_id", target.as_str()), ("role", "admin")]),
            ("users/set-disabled", vec![("user_id", target.as_str()), ("disabled", "true")]),
            ("users/reset-password", vec![("user_id", target.as_str()), ("new_password", "a brand new password")]),
        ];
        for (endpoint, form) in calls {
            let (status, body) = error_kind(app.call_with(&caller, endpoint, &form).await).await;
            assert_eq!(status, 403, "{role} calling {endpoint}");
            assert_eq!(body["kind"], "forbidden");
        }
        assert_eq!(app.user_count().await, before);
    }
    let target = gatehouse::users::server::find_by_id(&app.db, target.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(target.role, Role::Reviewer);
    assert!(!target.disabled);
    assert!(!app.audit_actions().await.iter().any(|a| a != "user.create"));
}

async fn anonymous_gets_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = error_kind(app.call_with(&client(), "users/list", &[]).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["kind"], "unauthenticated");
}

async fn the_last_admin_cannot_be_demoted_or_disabled(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, admin_id) = app.signed_in("admin@example.com", Role::Admin).await;
    let admin_id = admin_id.to_string();
    let (status, body) =
        error_kind(app.call_with(&admin, "users/set-role", &[("user_id", &admin_id), ("role", "reviewer")]).await)
            .await;
    assert_eq!(status, 409);
    assert!(body["message"].as_str().unwrap().contains("At least one enabled admin"));
    let (status, _) =
        error_kind(app.call_with(&admin, "users/set-disabled", &[("user_id", &admin_id), ("disabled", "true")]).await)
            .await;
    assert_eq!(status, 409);
    assert_eq!(app.me(&admin).await["role"], "admin");

    // With a second admin, the first may step down.
    app.add_user("admin2@example.com", Role::Admin).await;
    let response = app.call_with(&admin, "users/set-role", &[("user_id", &admin_id), ("role", "lead")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.me(&admin).await["role"], "lead");
}

async fn disabling_ends_the_users_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let (reviewer, reviewer_id) = app.signed_in("rev@example.com", Role::Reviewer).await;
    assert_eq!(app.me(&reviewer).await["email"], "rev@example.com");
    let response = app
        .call_with(&admin, "users/set-disabled", &[("user_id", &reviewer_id.to_string()), ("disabled", "true")])
        .await;
    assert_eq!(response.status(), 200);
    assert!(app.me(&reviewer).await.is_null(), "a disabled user's session ends at once");
}

async fn password_reset_ends_sessions_and_replaces_the_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let (reviewer, reviewer_id) = app.signed_in("rev@example.com", Role::Reviewer).await;
    let new_password = "a brand new password";
    let response = app
        .call_with(
            &admin,
            "users/reset-password",
            &[("user_id", &reviewer_id.to_string()), ("new_password", new_password)],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(app.me(&reviewer).await.is_null(), "sessions signed in with the old password end");

    let old = app.call_with(&client(), "auth/login", &[("email", "rev@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(old.status(), 401);
    let new = app.call_with(&client(), "auth/login", &[("email", "rev@example.com"), ("password", new_password)]).await;
    assert_eq!(new.status(), 200);
    assert_eq!(app.me(&admin).await["email"], "admin@example.com", "the admin stays signed in");
}

/// Each instance caches signed-in users for a second (`ApiCaches::users`): a change made through
/// another instance applies there within that second, and a stale cached record never refuses a
/// session that is valid (here, one signed in with the new password right after a reset).
async fn another_instance_sees_a_change_within_a_second_and_never_signs_out_wrongly(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.another_instance().await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let (reviewer, reviewer_id) = app.signed_in("rev@example.com", Role::Reviewer).await;
    let reviewer_id = reviewer_id.to_string();
    // Cookies are per host, not per port: the same client is signed in on both instances.
    assert_eq!(other.me(&reviewer).await["email"], "rev@example.com", "cached by the other instance now");

    let new_password = "a brand new password";
    let reset = app
        .call_with(&admin, "users/reset-password", &[("user_id", &reviewer_id), ("new_password", new_password)])
        .await;
    assert_eq!(reset.status(), 200);
    assert!(app.me(&reviewer).await.is_null(), "the instance that made the change applies it at once");
    let fresh = client();
    let signed_in =
        app.call_with(&fresh, "auth/login", &[("email", "rev@example.com"), ("password", new_password)]).await;
    assert_eq!(signed_in.status(), 200);
    assert_eq!(
        other.me(&fresh).await["email"],
        "rev@example.com",
        "a stale cached record (older sign-in epoch) is read again, not trusted to refuse"
    );

    let disable = app.call_with(&admin, "users/set-disabled", &[("user_id", &reviewer_id), ("disabled", "true")]).await;
    assert_eq!(disable.status(), 200);
    tokio::time::sleep(gatehouse::state::USER_CACHE_TTL + std::time::Duration::from_millis(100)).await;
    assert!(other.me(&fresh).await.is_null(), "the other instance refuses a disabled user within a second");
}
