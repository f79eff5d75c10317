//! Applying a threshold from the tuning page: admin only, confirmed, versioned with its
//! evidence; the rollout widened step by step with its held-out error; the auto-reject band.

use super::*;
use crate::on_both_backends;

on_both_backends!(
    applying_a_threshold_is_confirmed_versioned_and_keeps_its_evidence,
    the_auto_reject_band_is_recommended_applied_and_routed,
    the_rollout_reports_the_held_out_error_across_widenings,
);

async fn applying_a_threshold_is_confirmed_versioned_and_keeps_its_evidence(backend: Backend) {
    let (app, key, _) = setup(backend).await;
    import(&app, &key, history()).await;
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    let lead = person(&app, "lee@example.com", Role::Lead).await;
    let apply = |how: &'static str, extra: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("slug", SLUG), ("how", how), ("reason", "the evidence supports it")];
        form.extend(extra);
        form
    };
    let (status, _) = call(&app, &lead.client, "tuning/apply", &apply("recommendation", vec![("confirm", "on")])).await;
    assert_eq!(status, 403, "leads do not tune");
    let (status, body) = call(&app, &admin.client, "tuning/apply", &apply("recommendation", vec![])).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "confirm");
    let no_reason = vec![("slug", SLUG), ("how", "recommendation"), ("reason", " "), ("confirm", "on")];
    let (status, body) = call(&app, &admin.client, "tuning/apply", &no_reason).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("reason")), "{body}");
    let version = |app: &TestApp| {
        let db = app.db.clone();
        async move { gatehouse::workflows::server::find_by_slug(&db, SLUG).await.unwrap().unwrap() }
    };
    assert_eq!(version(&app).await.settings_version, 1, "nothing refused changed anything");

    // Applied through a rollout: a quarter of the newly automatable band first.
    let (status, body) = call(
        &app,
        &admin.client,
        "tuning/apply",
        &apply("recommendation", vec![("confirm", "on"), ("rollout_share", "0.25")]),
    )
    .await;
    assert!((200..400).contains(&status), "{status} {body}");
    let applied = version(&app).await;
    assert_eq!((applied.settings_version, applied.spec.auto_approve_at), (2, Some(0.505)));
    assert_eq!(applied.spec.rollout_share, 0.25);
    assert_eq!(applied.spec.rollout_from, Some(0.9), "only the band below the old threshold rolls out");
    // Above the old threshold items are automated as before; in the new band most are held out.
    let before = crate::fixtures::submit_all(
        &app,
        &key_for_items(&app).await,
        SLUG,
        &[crate::fixtures::invoice("old-band", 0.95)],
    )
    .await;
    assert_eq!(before[0]["route"]["reason"], "above_threshold", "{}", before[0]);
    let band: Vec<Value> = (0..40).map(|i| crate::fixtures::invoice(&format!("new-band-{i}"), 0.7)).collect();
    let band = crate::fixtures::submit_all(&app, &key_for_items(&app).await, SLUG, &band).await;
    let held = band.iter().filter(|i| i["route"]["reason"] == "rollout_holdout").count();
    assert!((20..40).contains(&held), "about three quarters held out: {held} of 40");
    let (evidence, reason): (Option<String>, String) =
        sqlx::query_as("select evidence, reason from workflow_settings_history where version = 2")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let evidence: Value = serde_json::from_str(&evidence.expect("the evidence is kept")).unwrap();
    assert_eq!(reason, "the evidence supports it");
    assert_eq!(evidence["how"], "recommendation");
    assert_eq!(evidence["evidence"]["reviewed"], 1000);
    assert!(evidence["summary"].as_str().unwrap().starts_with("Applied the recommendation: 0.505"), "{evidence}");
    let (_, detail) = call(&app, &admin.client, "workflows/detail", &[("slug", SLUG)]).await;
    assert!(detail["history"][0]["evidence"].as_str().unwrap().contains("0.505"), "{}", detail["history"][0]);

    // Widening must raise the share; then it is a version of its own.
    let (status, body) =
        call(&app, &admin.client, "tuning/apply", &apply("widen", vec![("confirm", "on"), ("rollout_share", "0.2")]))
            .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("rollout_share")), "{body}");
    let (status, _) =
        call(&app, &admin.client, "tuning/apply", &apply("widen", vec![("confirm", "on"), ("rollout_share", "0.5")]))
            .await;
    assert!((200..400).contains(&status));
    let widened = version(&app).await;
    assert_eq!((widened.settings_version, widened.spec.rollout_share), (3, 0.5));
    assert_eq!(widened.spec.rollout_from, Some(0.9), "widening keeps the band");
    assert_eq!(widened.spec.auto_approve_at, Some(0.505));
    let (_, report) = call(&app, &admin.client, "tuning/report", &[("slug", SLUG)]).await;
    assert!(
        report["rollout"].as_str().unwrap().starts_with("50.00 % of would-be auto-approvals"),
        "{}",
        report["rollout"]
    );

    // Set by hand, and off again.
    let (status, _) =
        call(&app, &admin.client, "tuning/apply", &apply("manual", vec![("confirm", "on"), ("threshold", "0.9")]))
            .await;
    assert!((200..400).contains(&status));
    let manual = version(&app).await;
    assert_eq!((manual.spec.auto_approve_at, manual.spec.rollout_from), (Some(0.9), None), "a full share ends it");
    let (status, body) =
        call(&app, &admin.client, "tuning/apply", &apply("manual", vec![("confirm", "on"), ("threshold", "1.5")]))
            .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("threshold")), "{body}");
}

async fn the_auto_reject_band_is_recommended_applied_and_routed(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    workflow().with("escalate_below", Value::Null).with("tune_auto_reject", json!(true)).create(&app).await;
    let key =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "tuner", &[SLUG.into()], true).await.unwrap().token;
    // 400 at 0.05, every one found wrong; 300 at 0.5, 210 of them right.
    let mut lines: Vec<String> = (0..400).map(|i| line(&format!("low-{i}"), 0.05, Some("wrong"), 1.0)).collect();
    lines.extend((0..300).map(|i| line(&format!("mid-{i}"), 0.5, Some(if i < 90 { "wrong" } else { "right" }), 1.0)));
    let (status, _) = import(&app, &key, lines.join("\n")).await;
    assert_eq!(status, 200);
    let (_, report) = tuning(&app, &key, "").await;
    // Rejecting below 0.5 rejects only the 0.05 bin, all wrong; below 0.505 it would take the 0.5 one.
    assert_eq!(report["reject"]["recommendation"]["threshold"], 0.5, "{}", report["reject"]["recommendation"]);

    let form = [
        ("slug", SLUG),
        ("how", "reject"),
        ("threshold", "0.5"),
        ("reason", "the low band is always wrong"),
        ("confirm", "on"),
    ];
    let (status, body) = call(&app, &admin.client, "tuning/apply", &form).await;
    assert!((200..400).contains(&status), "{status} {body}");
    let applied = gatehouse::workflows::server::find_by_slug(&app.db, SLUG).await.unwrap().unwrap();
    assert_eq!((applied.spec.auto_reject_below, applied.settings_version), (Some(0.5), 2));
    let (evidence,): (Option<String>,) =
        sqlx::query_as("select evidence from workflow_settings_history where version = 2")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(evidence.unwrap().contains("Set the auto-reject band: below 0.5"));

    let items = [crate::fixtures::invoice("low", 0.3), crate::fixtures::invoice("mid", 0.6)];
    let stored = crate::fixtures::submit_all(&app, &key_for_items(&app).await, SLUG, &items).await;
    let low = &stored[0];
    assert_eq!(
        (low["state"].as_str(), low["outcome"].as_str()),
        (Some("auto_rejected"), Some("auto_rejected")),
        "{low}"
    );
    assert_eq!(low["route"]["reason"], "below_reject_threshold");
    assert_eq!(low["decisions"][0]["kind"], "auto_reject");
    assert_eq!(low["final_output"], Value::Null);
    assert_eq!(stored[1]["state"], "queued");
    let (kind, is_final): (String, i64) = sqlx::query_as("select kind, final from decisions where item_id = $1")
        .bind(low["id"].as_i64().unwrap())
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!((kind.as_str(), is_final), ("auto_reject", 1));
    // A reject band above the escalation floor or the approval threshold is refused.
    let bad = [("slug", SLUG), ("how", "reject"), ("threshold", "0.95"), ("reason", "too far"), ("confirm", "on")];
    let (status, body) = call(&app, &admin.client, "tuning/apply", &bad).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("auto_reject_below")), "{body}");
}

/// Submits `n` items at 0.7 (inside the band rolling out) and decides every one held out for
/// review, rejecting the first `wrong`; the number held out.
async fn decide_held_out(
    app: &TestApp,
    reviewer: &crate::fixtures::Person,
    prefix: &str,
    n: usize,
    wrong: usize,
) -> usize {
    let items: Vec<Value> = (0..n).map(|i| crate::fixtures::invoice(&format!("{prefix}-{i}"), 0.7)).collect();
    let stored = crate::fixtures::submit_all(app, &key_for_items(app).await, SLUG, &items).await;
    let held = stored.iter().filter(|i| i["route"]["reason"] == "rollout_holdout").count();
    assert!(held > wrong, "{held} held out of {n}");
    for i in 0..held {
        decide_next(app, reviewer, if i < wrong { "reject" } else { "approve" }).await;
    }
    held
}

/// The tuning report's rollout part, read through the REST API.
async fn rollout_of(app: &TestApp, key: &str) -> Value {
    let (status, report) = tuning(app, key, "").await;
    assert_eq!(status, 200, "{report}");
    report["rollout"].clone()
}

/// The held-out fraction's observed error follows its verdicts as they come in, a widening
/// (which samples the band at a new probability) keeps the verdicts gathered before it, and
/// other sampled evidence of the band is not counted as the rollout's.
async fn the_rollout_reports_the_held_out_error_across_widenings(backend: Backend) {
    let app = spawn_app(backend).await;
    let reviewer = person(&app, "rita@example.com", Role::Reviewer).await;
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    workflow().members(&[&reviewer]).with("reason_codes", json!(["blurry"])).create(&app).await;
    let key =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "tuner", &[SLUG.into()], true).await.unwrap().token;
    import(&app, &key, history()).await;
    let apply = |how: &'static str, share: &'static str| {
        vec![("slug", SLUG), ("how", how), ("reason", "step by step"), ("confirm", "on"), ("rollout_share", share)]
    };
    let (status, body) = call(&app, &admin.client, "tuning/apply", &apply("recommendation", "0.25")).await;
    assert!((200..400).contains(&status), "{status} {body}");
    // Past items of the band sampled at a probability no share of this rollout gives (0.4),
    // imported now: evidence of the band, but not the rollout's verdicts. (Evidence is kept by
    // probability, so history sampled at exactly a share's probability could not be told apart.)
    let past: Vec<String> = (0..10).map(|i| line(&format!("past-{i}"), 0.7, Some("wrong"), 0.4)).collect();
    let (status, body) = import(&app, &key, past.join("\n")).await;
    assert_eq!(status, 200, "{body}");
    let nothing_yet = rollout_of(&app, &key).await;
    assert_eq!((nothing_yet["reviewed"].as_u64(), nothing_yet["wrong"].as_u64()), (Some(0), Some(0)), "{nothing_yet}");
    assert!(nothing_yet["observed_error"].is_null(), "{nothing_yet}");

    // At a quarter automated, three of every four items of the band are held out.
    let first = decide_held_out(&app, &reviewer, "quarter", 40, 3).await;
    let seen = rollout_of(&app, &key).await;
    assert_eq!((seen["reviewed"].as_u64(), seen["wrong"].as_u64()), (Some(first as u64), Some(3)), "{seen}");
    let observed = seen["observed_error"].as_f64().unwrap();
    assert!((observed - 3.0 / first as f64).abs() < 1e-9, "{seen}");

    // Widened to a half: the band's items are held out at 1 in 2 from now on, and the verdicts
    // of the quarter's stratum still count beside the new ones.
    let (status, body) = call(&app, &admin.client, "tuning/apply", &apply("widen", "0.5")).await;
    assert!((200..400).contains(&status), "{status} {body}");
    let second = decide_held_out(&app, &reviewer, "half", 40, 1).await;
    let seen = rollout_of(&app, &key).await;
    assert_eq!(seen["share"].as_f64(), Some(0.5), "{seen}");
    assert_eq!(
        (seen["reviewed"].as_u64(), seen["wrong"].as_u64()),
        (Some((first + second) as u64), Some(4)),
        "both shares' verdicts: {seen}"
    );
    let (_, page) = call(&app, &admin.client, "tuning/report", &[("slug", SLUG)]).await;
    let text = page["rollout"].as_str().unwrap();
    assert!(text.contains(&format!("{} verdicts, 4 wrong", first + second)), "{text}");
}
