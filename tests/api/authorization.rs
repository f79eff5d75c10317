//! Who may call each server function: every one of them, called by every kind of caller with
//! arguments that are otherwise valid, gets the status its row says, and a call that is refused
//! changes nothing. The table must name exactly the server functions the app registers, so that
//! a new one cannot be added without deciding who may call it.
//!
//! One file of over 500 lines on purpose: the table of who may call what and the fixture's
//! arguments that make each row's call valid (`Fixture::arguments`) both name every server
//! function, and are kept side by side so that adding one means deciding both in one place.

use crate::fixtures::{SLUG, invoice, person, submit_all};
use crate::helpers::{Backend, PASSWORD, TestApp, client, spawn_app_with};
use crate::on_both_backends;
use gatehouse::domain::Role;
use gatehouse::domain::escalation::Reason;
use gatehouse::escalations::server::{Escalating, escalate_by_system};
use gatehouse::webhooks::delivery::{Deliverer, DeliverySettings};
use gatehouse::webhooks::destination::DestinationPolicy;
use gatehouse::workflows::WorkflowForm;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::time::Duration;

on_both_backends!(every_server_function_lets_in_exactly_the_callers_its_row_names);

/// Who calls. Members are members of the workflow [`SLUG`]; the admin is a member of none (an
/// admin works a queue only once they add themselves, like anyone else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    SignedOut,
    Reviewer,
    OutsideReviewer,
    Lead,
    OutsideLead,
    Admin,
}

/// The callers in the order of the table's columns.
const CALLERS: [Caller; 6] =
    [Caller::SignedOut, Caller::Reviewer, Caller::OutsideReviewer, Caller::Lead, Caller::OutsideLead, Caller::Admin];

impl Caller {
    fn is_member(self) -> bool {
        matches!(self, Caller::Reviewer | Caller::Lead)
    }

    fn email(self) -> &'static str {
        match self {
            Caller::SignedOut => "",
            Caller::Reviewer => "rev@example.com",
            Caller::OutsideReviewer => "outsider@example.com",
            Caller::Lead => "lead@example.com",
            Caller::OutsideLead => "outside-lead@example.com",
            Caller::Admin => "admin@example.com",
        }
    }

    fn role(self) -> Role {
        match self {
            Caller::SignedOut | Caller::Reviewer | Caller::OutsideReviewer => Role::Reviewer,
            Caller::Lead | Caller::OutsideLead => Role::Lead,
            Caller::Admin => Role::Admin,
        }
    }

    /// A word for the caller in made-up names and addresses.
    fn tag(self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

const OK: u16 = 200;
const UNAUTHENTICATED: u16 = 401;
const FORBIDDEN: u16 = 403;
const CONFLICT: u16 = 409;

/// What each caller gets from each server function. Columns: signed out, reviewer (member),
/// reviewer (not a member), lead (member), lead (not a member), admin (not a member).
const TABLE: &[(&str, [u16; 6])] = &[
    // Public: anybody may ask who they are, sign in and out, and read the API reference.
    ("auth/me", [OK; 6]),
    ("auth/login", [OK; 6]),
    ("auth/logout", [OK; 6]),
    ("docs/api", [OK; 6]),
    // Setup is public until the first admin exists; after that it is refused to everybody.
    ("setup/status", [OK; 6]),
    ("setup/first-admin", [CONFLICT; 6]),
    // A secret flashed to the admin's next page.
    ("flash/take", ADMIN_ONLY),
    // One's own account: any signed-in user.
    ("account/sessions", SIGNED_IN),
    ("account/end-session", SIGNED_IN),
    ("account/end-other-sessions", SIGNED_IN),
    ("account/change-password", SIGNED_IN),
    // Reviewing: any reviewer sees their queues (none they are not a member of), members alone
    // work a workflow's items.
    ("review/queues", SIGNED_IN),
    ("review/queue", MEMBERS),
    ("review/start", MEMBERS),
    ("review/item", MEMBERS),
    // A lease is checked before membership: someone else's token is a lease that is not theirs.
    ("review/renew", [UNAUTHENTICATED, OK, CONFLICT, OK, CONFLICT, CONFLICT]),
    ("review/approve", MEMBERS),
    ("review/reject", MEMBERS),
    ("review/correct", MEMBERS),
    ("review/escalate", MEMBERS),
    ("review/skip", MEMBERS),
    // Asked about someone else's decision, it answers that there is nothing to undo.
    ("review/undo-offer", SIGNED_IN),
    ("review/undo", MEMBERS),
    // Leads of the workflow assign, and admins anywhere; only the assignee claims.
    ("review/assign", [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN, OK]),
    ("review/claim-assigned", MEMBERS),
    // Leads and admins; a lead outside the workflow sees an inbox without its escalations
    // (`review::escalation_inbox` checks which rows each sees).
    ("escalations/inbox", [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, OK, OK, OK]),
    // An escalation's page and what a lead does there: leads of its workflow, and admins.
    ("escalations/item", LEADS),
    ("escalations/assign", LEADS),
    ("escalations/assign-selected", LEADS),
    ("escalations/decide", LEADS),
    ("escalations/send-back", LEADS),
    // What the navigation counts: anyone signed in, for themselves.
    ("escalations/counts", SIGNED_IN),
    // The team page: leads and admins; a lead outside the workflow sees none of its members.
    ("team/overview", [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, OK, OK, OK]),
    // The dashboard of the workflow: its leads and admins.
    ("monitoring/dashboard", LEADS),
    // Item search: leads and admins, in the workflows they answer for; one item's page likewise.
    ("items/search", LEADS),
    ("items/record", LEADS),
    // Administration.
    ("users/list", ADMIN_ONLY),
    ("users/add", ADMIN_ONLY),
    ("users/set-role", ADMIN_ONLY),
    ("users/set-disabled", ADMIN_ONLY),
    ("users/reset-password", ADMIN_ONLY),
    ("api-keys/list", ADMIN_ONLY),
    ("api-keys/create", ADMIN_ONLY),
    ("api-keys/revoke", ADMIN_ONLY),
    ("audit/list", ADMIN_ONLY),
    ("webhooks/add", ADMIN_ONLY),
    ("webhooks/test", ADMIN_ONLY),
    ("webhooks/rotate-secret", ADMIN_ONLY),
    ("webhooks/replay", ADMIN_ONLY),
    ("workflows/list", ADMIN_ONLY),
    ("workflows/detail", ADMIN_ONLY),
    ("workflows/save", ADMIN_ONLY),
    ("tuning/report", ADMIN_ONLY),
    ("tuning/apply", ADMIN_ONLY),
    // Its breaker is closed: an admin is let in and told so.
    ("tuning/close-breaker", [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, CONFLICT]),
];

const SIGNED_IN: [u16; 6] = [UNAUTHENTICATED, OK, OK, OK, OK, OK];
const MEMBERS: [u16; 6] = [UNAUTHENTICATED, OK, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN];
const LEADS: [u16; 6] = [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN, OK];
const ADMIN_ONLY: [u16; 6] = [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK];

/// The second workflow, which `workflows/save` tries to change (so that an admin's allowed
/// change leaves the workflow the other rows work in as it was).
const SCRATCH: &str = "receipts";

async fn every_server_function_lets_in_exactly_the_callers_its_row_names(backend: Backend) {
    the_table_names_every_registered_server_function();
    let mut fx = Fixture::new(backend).await;
    let mut failures = Vec::new();
    for (endpoint, row) in TABLE {
        for (caller, expected) in CALLERS.into_iter().zip(*row) {
            let form = fx.arguments(endpoint, caller).await;
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let before = fx.snapshot().await;
            let anonymous = client();
            let who = fx.accounts.get(&caller).map_or(&anonymous, |a| &a.client);
            let response = fx.app.call_with(who, endpoint, &form).await;
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let call = format!("{endpoint} as {caller:?}");
            if status != expected {
                failures.push(format!("{call}: expected {expected}, got {status}: {text}"));
            } else if let Some(kind) = match status {
                UNAUTHENTICATED => Some("unauthenticated"),
                FORBIDDEN => Some("forbidden"),
                _ => None,
            } && body["kind"] != kind
            {
                failures.push(format!("{call}: a {status} of kind {kind} expected: {text}"));
            }
            if status != OK || expected != OK {
                let changed = before.differences(&fx.snapshot().await);
                if !changed.is_empty() {
                    failures.push(format!("{call} answered {status} and changed:\n    {}", changed.join("\n    ")));
                }
            }
            if status == OK
                && let Some(leak) = reveals_too_much(endpoint, caller, &body)
            {
                failures.push(format!("{call}: {leak}: {text}"));
            }
            if *endpoint == "account/change-password"
                && status == OK
                && let Some(account) = fx.accounts.get_mut(&caller)
            {
                account.password = form.iter().find(|(k, _)| *k == "new_password").unwrap().1.to_owned();
            }
            fx.sign_in_again_if_signed_out(caller).await;
        }
    }
    let calls = TABLE.len() * CALLERS.len();
    assert!(failures.is_empty(), "{} of {calls} calls went wrong:\n{}", failures.len(), failures.join("\n"));
}

/// The registered server functions are exactly those of the table, each in it once.
fn the_table_names_every_registered_server_function() {
    let registered: BTreeSet<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.strip_prefix("/api/").unwrap_or(path))
        .collect();
    let tabled: BTreeSet<&str> = TABLE.iter().map(|(endpoint, _)| *endpoint).collect();
    assert_eq!(tabled.len(), TABLE.len(), "an endpoint has more than one row");
    let missing: Vec<&&str> = registered.difference(&tabled).collect();
    let unknown: Vec<&&str> = tabled.difference(&registered).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "the authorization table must have a row for exactly the registered server functions: \
         no row for {missing:?} (add one, with the status each caller must get, and its arguments \
         in Fixture::arguments); rows for no server function: {unknown:?}"
    );
}

/// What an allowed call must not show the caller.
fn reveals_too_much(endpoint: &str, caller: Caller, body: &Value) -> Option<&'static str> {
    match endpoint {
        "auth/me" if caller == Caller::SignedOut && !body.is_null() => Some("a user for a signed-out caller"),
        "review/queues"
            if !caller.is_member() && body["queues"].as_array().into_iter().flatten().any(|q| q["slug"] == SLUG) =>
        {
            Some("a queue to someone who is not its member")
        }
        "team/overview"
            if caller == Caller::OutsideLead
                && body["members"].as_array().into_iter().flatten().any(|m| m["email"] == Caller::Reviewer.email()) =>
        {
            Some("the members of a workflow the lead does not answer for")
        }
        "review/undo-offer" if !caller.is_member() && !body.is_null() => {
            Some("an offer to undo someone else's decision")
        }
        _ => None,
    }
}

/// A signed-in caller and their browser.
struct Account {
    client: reqwest::Client,
    id: i64,
    password: String,
}

/// One app with everything each row needs: a workflow whose members are the reviewer and the
/// lead, a second one, a webhook with a dead-lettered event, API keys, items waiting for review
/// (ingested through the REST API), and a user for the admin's calls to act on.
struct Fixture {
    app: TestApp,
    accounts: HashMap<Caller, Account>,
    target: i64,
    spare_key: i64,
    endpoint: i64,
    dead_event: i64,
}

impl Fixture {
    async fn new(backend: Backend) -> Self {
        // Nothing happens in the background while the table runs: no delivery (the worker looks
        // once, at start), no lease sweep, and no decision settles.
        let app = spawn_app_with(backend, |s| {
            s.webhook_poll_ms = 3_600_000;
            s.lease_sweep_ms = 3_600_000;
            s.escalation_sweep_ms = 3_600_000;
            s.undo_window_ms = 3_600_000;
            s.allow_private_webhooks = true;
        })
        .await;
        let mut accounts = HashMap::new();
        for caller in CALLERS.into_iter().filter(|c| *c != Caller::SignedOut) {
            let signed_in = person(&app, caller.email(), caller.role()).await;
            let account = Account { client: signed_in.client, id: signed_in.id, password: PASSWORD.to_owned() };
            accounts.insert(caller, account);
        }
        let target = app.add_user("target@example.com", Role::Reviewer).await;
        let fx = Self { app, accounts, target, spare_key: 0, endpoint: 0, dead_event: 0 };

        let members = [Caller::Reviewer.email(), Caller::Lead.email()].join("\n");
        fx.ok(Caller::Admin, "workflows/save", &workflow_fields(&new_workflow(SLUG, &members), "create", "")).await;
        fx.ok(Caller::Admin, "workflows/save", &workflow_fields(&new_workflow(SCRATCH, ""), "create", "")).await;
        // Delivery to a port nobody listens on fails.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{closed}/hooks");
        let mut hook = vec![("slug", SLUG.to_owned()), ("url", url)];
        for event in gatehouse::webhooks::EVENT_TYPES {
            hook.push((Box::leak(format!("events[{event}]").into_boxed_str()), "on".to_owned()));
        }
        fx.ok(Caller::Admin, "webhooks/add", &hook).await;
        let key =
            fx.ok(Caller::Admin, "api-keys/create", &[("name", "ingest".into()), ("workflows", SLUG.into())]).await;
        fx.ok(Caller::Admin, "api-keys/create", &[("name", "spare".into()), ("workflows", SLUG.into())]).await;
        let key = key.as_str().expect("the new key").to_owned();

        let mut items: Vec<Value> = (0..60).map(|i| invoice(&format!("review-{i}"), 0.5)).collect();
        items.extend((0..2).map(|i| invoice(&format!("auto-{i}"), 0.95)));
        items.push(invoice("doubtful", 0.1));
        let stored = submit_all(&fx.app, &key, SLUG, &items).await;
        let states: Vec<&str> = stored.iter().filter_map(|item| item["state"].as_str()).collect();
        assert_eq!(states.iter().filter(|s| **s == "queued").count(), 60, "{states:?}");
        assert_eq!(&states[60..], ["auto_approved", "auto_approved", "escalated"]);

        // One delivery attempt each: the auto-approvals' events are dead-lettered.
        let settings = DeliverySettings {
            base_delay_ms: 10,
            max_attempts: 1,
            poll: Duration::from_millis(10),
            max_endpoints: 4,
            destinations: DestinationPolicy { allow_private: true },
        };
        Deliverer::new(fx.app.db.clone(), settings).deliver_due().await.unwrap();

        let spare_key = fx.id("select id from api_keys where name = 'spare'").await;
        let endpoint = fx.id("select id from webhook_endpoints").await;
        let dead_event = fx.id("select min(id) from webhook_outbox where status = 'dead'").await;
        Self { spare_key, endpoint, dead_event, ..fx }
    }

    /// The arguments of a call of `endpoint` by `caller`: all of them valid, naming things that
    /// exist, so that only who calls can refuse it. Calls on an item or a decision name one of
    /// the caller's own when they are a member, else one of the member reviewer's.
    async fn arguments(&self, endpoint: &str, caller: Caller) -> Vec<(&'static str, String)> {
        let owner = if caller.is_member() { caller } else { Caller::Reviewer };
        let lease = |extra: &[(&'static str, &str)]| {
            let extra: Vec<(&'static str, String)> = extra.iter().map(|(k, v)| (*k, v.to_string())).collect();
            async move {
                let (item, token) = self.held(owner).await;
                let mut form = vec![("item_id", item.to_string()), ("lease_token", token)];
                form.extend(extra);
                form
            }
        };
        match endpoint {
            "auth/me"
            | "auth/logout"
            | "docs/api"
            | "setup/status"
            | "flash/take"
            | "account/sessions"
            | "account/end-other-sessions"
            | "review/queues"
            | "users/list"
            | "api-keys/list"
            | "workflows/list"
            | "escalations/inbox"
            | "team/overview"
            | "audit/list"
            | "escalations/counts" => {
                vec![]
            }
            "auth/login" => match self.accounts.get(&caller) {
                Some(account) => vec![("email", caller.email().into()), ("password", account.password.clone())],
                None => vec![("email", "target@example.com".into()), ("password", PASSWORD.into())],
            },
            "setup/first-admin" => {
                let token = gatehouse::auth::setup_token::current(&self.app.db).await.unwrap();
                vec![
                    ("setup_token", token.unwrap_or_else(|| "no token is left".into())),
                    ("name", "Usurper".into()),
                    ("email", "usurper@example.com".into()),
                    ("password", PASSWORD.into()),
                    ("password_confirm", PASSWORD.into()),
                ]
            }
            "account/end-session" => {
                let whose = if caller == Caller::SignedOut { Caller::Reviewer } else { caller };
                vec![("handle", self.another_session(whose).await)]
            }
            "account/change-password" => {
                let current = self.accounts.get(&caller).map_or(PASSWORD.to_owned(), |a| a.password.clone());
                let new = format!("{PASSWORD} of {}", caller.tag());
                vec![("current_password", current), ("new_password", new.clone()), ("new_password_confirm", new)]
            }
            "review/queue" | "review/start" => vec![("slug", SLUG.into())],
            "review/item" => vec![("slug", SLUG.into()), ("item_id", self.held(owner).await.0.to_string())],
            "review/renew" | "review/approve" | "review/skip" => lease(&[]).await,
            "review/reject" => lease(&[("reason_code", "blurry"), ("note", "unreadable")]).await,
            "review/correct" => lease(&[("fields[/fields/total]", "99")]).await,
            "review/escalate" => lease(&[("note", "needs a lead")]).await,
            "review/undo" | "review/undo-offer" => vec![("decision_id", self.new_decision(owner).await.to_string())],
            "review/assign" => {
                vec![("item_id", self.queued_item().await.to_string()), ("assignee", Caller::Reviewer.email().into())]
            }
            "review/claim-assigned" => vec![("item_id", self.assigned_item(owner).await.to_string())],
            "escalations/item" => vec![("item_id", self.escalated_item().await.to_string())],
            "escalations/assign" => vec![
                ("item_id", self.escalated_item().await.to_string()),
                ("assignee", Caller::Reviewer.email().into()),
                ("note", "yours".into()),
            ],
            "escalations/assign-selected" => {
                // The checkbox's name carries the item: leaked, as the form's keys are static.
                let selected: &'static str =
                    Box::leak(format!("selected[{}]", self.escalated_item().await).into_boxed_str());
                vec![(selected, "on".into()), ("assignee", Caller::Reviewer.email().into())]
            }
            // A rejection: the verdict with the most to check.
            "escalations/decide" => vec![
                ("item_id", self.escalated_item().await.to_string()),
                ("verdict", "reject".into()),
                ("reason_code", "blurry".into()),
                ("note", "unreadable".into()),
            ],
            "escalations/send-back" => {
                vec![("item_id", self.escalated_item().await.to_string()), ("note", "a reviewer can do it".into())]
            }
            "users/add" => vec![
                ("email", format!("added-by-{}@example.com", caller.tag())),
                ("name", "Added".into()),
                ("role", "admin".into()),
                ("password", PASSWORD.into()),
            ],
            "users/set-role" => vec![("user_id", self.target.to_string()), ("role", "admin".into())],
            "users/set-disabled" => vec![("user_id", self.target.to_string()), ("disabled", "true".into())],
            "users/reset-password" => {
                vec![("user_id", self.target.to_string()), ("new_password", "a password chosen for you".into())]
            }
            "api-keys/create" => vec![("name", format!("key of {}", caller.tag())), ("workflows", SLUG.into())],
            "api-keys/revoke" => vec![("key_id", self.spare_key.to_string())],
            "webhooks/add" => vec![
                ("slug", SLUG.into()),
                ("url", format!("http://127.0.0.1:9/{}", caller.tag())),
                ("events[item.approved]", "on".into()),
            ],
            "webhooks/test" | "webhooks/rotate-secret" => vec![("endpoint_id", self.endpoint.to_string())],
            "webhooks/replay" => vec![("outbox_id", self.dead_event.to_string())],
            "workflows/detail" | "tuning/report" => vec![("slug", SLUG.into())],
            "monitoring/dashboard" | "items/search" => vec![("workflow", SLUG.into())],
            "items/record" => vec![("item_id", self.escalated_item().await.to_string())],
            "tuning/close-breaker" => vec![("slug", SLUG.into()), ("reason", "the model was retrained".into())],
            // A threshold set by hand on the second workflow, confirmed, with a reason.
            "tuning/apply" => vec![
                ("slug", SCRATCH.into()),
                ("how", "manual".into()),
                ("threshold", "0.97".into()),
                ("reason", format!("set by {}", caller.tag())),
                ("confirm", "on".into()),
            ],
            "workflows/save" => {
                // Letting an outsider (and the caller) into the second workflow.
                let workflow =
                    gatehouse::workflows::server::find_by_slug(&self.app.db, SCRATCH).await.unwrap().unwrap();
                let mut form = workflow.form();
                form.members = [form.members.as_str(), Caller::OutsideReviewer.email(), caller.email()].join("\n");
                form.description = format!("Widened by {}", caller.tag());
                workflow_fields(&form, "update", "more hands")
            }
            _ => panic!("no arguments for {endpoint}: add them to Fixture::arguments"),
        }
    }

    /// Calls `endpoint` as `caller`, who must be let in; the answer.
    async fn ok(&self, caller: Caller, endpoint: &str, form: &[(&str, String)]) -> Value {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = self.app.call_with(&self.accounts[&caller].client, endpoint, &form).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "{endpoint} as {caller:?}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn id(&self, sql: &str) -> i64 {
        sqlx::query_as::<_, (i64,)>(sql).fetch_one(self.app.db.pool()).await.unwrap().0
    }

    /// An item leased to `who`, and its lease token: one they hold, else the next one waiting.
    async fn held(&self, who: Caller) -> (i64, String) {
        let user = self.accounts[&who].id;
        let held = || async {
            sqlx::query_as::<_, (i64, String)>(
                "select id, lease_token from items where state = 'claimed' and leased_by = $1 order by id limit 1",
            )
            .bind(user)
            .fetch_optional(self.app.db.pool())
            .await
            .unwrap()
        };
        if let Some(lease) = held().await {
            return lease;
        }
        self.ok(who, "review/start", &[("slug", SLUG.into())]).await.as_i64().expect("an item waits for review");
        held().await.expect("the item just leased")
    }

    /// A decision of `who` that they may still undo: an approval of the item they hold.
    async fn new_decision(&self, who: Caller) -> i64 {
        let (item, token) = self.held(who).await;
        let receipt = self.ok(who, "review/approve", &[("item_id", item.to_string()), ("lease_token", token)]).await;
        receipt["decision_id"].as_i64().expect("the decision's id")
    }

    async fn queued_item(&self) -> i64 {
        self.id("select min(id) from items where state = 'queued'").await
    }

    /// An item assigned to `who` and not yet claimed (the admin assigns one if there is none).
    async fn assigned_item(&self, who: Caller) -> i64 {
        let assigned: Option<(i64,)> =
            sqlx::query_as("select id from items where state = 'assigned' and assigned_to = $1 order by id limit 1")
                .bind(self.accounts[&who].id)
                .fetch_optional(self.app.db.pool())
                .await
                .unwrap();
        if let Some((item,)) = assigned {
            return item;
        }
        let item = self.queued_item().await;
        let form = [("item_id", item.to_string()), ("assignee", who.email().to_owned())];
        self.ok(Caller::Admin, "review/assign", &form).await;
        item
    }

    /// An escalated item (the system escalates a waiting one when none is left).
    async fn escalated_item(&self) -> i64 {
        let escalated: Option<(i64,)> = sqlx::query_as("select min(id) from items where state = 'escalated'")
            .fetch_one(self.app.db.pool())
            .await
            .ok()
            .and_then(|(id,): (Option<i64>,)| id.map(|id| (id,)));
        if let Some((item,)) = escalated {
            return item;
        }
        let item = self.queued_item().await;
        let workflow = self.id(&format!("select id from workflows where slug = '{SLUG}'")).await;
        let mut conn = self.app.db.pool().acquire().await.unwrap();
        let escalating = Escalating { item_id: item, workflow_id: workflow, slug: SLUG };
        let at = gatehouse::storage::clock::now_ms();
        assert!(
            escalate_by_system(&mut conn, self.app.db.backend(), escalating, Reason::ReviewSla, "waited", at)
                .await
                .unwrap()
        );
        item
    }

    /// The handle of a session of `who` other than the one their browser uses: a new one.
    async fn another_session(&self, who: Caller) -> String {
        let account = &self.accounts[&who];
        let form = [("email", who.email()), ("password", account.password.as_str())];
        let response = self.app.call_with(&client(), "auth/login", &form).await;
        assert_eq!(response.status(), 200, "a second sign-in of {who:?}");
        let sessions = self.ok(who, "account/sessions", &[]).await;
        let other = sessions.as_array().unwrap().iter().find(|s| s["current"] == false).expect("another session");
        other["handle"].as_str().unwrap().to_owned()
    }

    /// Signs the caller in again after a call that signed them out (`auth/logout`).
    async fn sign_in_again_if_signed_out(&self, caller: Caller) {
        let Some(account) = self.accounts.get(&caller) else { return };
        if !self.app.me(&account.client).await.is_null() {
            return;
        }
        let form = [("email", caller.email()), ("password", account.password.as_str())];
        let response = self.app.call_with(&account.client, "auth/login", &form).await;
        assert_eq!(response.status(), 200, "signing {caller:?} in again");
    }

    /// What a refused call must leave as it was.
    async fn snapshot(&self) -> Snapshot {
        let pool = self.app.db.pool();
        let mut counts = Vec::new();
        for table in [
            "users",
            "sessions",
            "workflows",
            "workflow_members",
            "workflow_settings_history",
            "api_keys",
            "api_key_workflows",
            "webhook_endpoints",
            "webhook_outbox",
            "items",
            "decisions",
            "audit_events",
        ] {
            counts.push((table, self.id(&format!("select count(*) from {table}")).await));
        }
        Snapshot {
            counts,
            sessions_by_user: sqlx::query_as(
                "select user_id, count(*) from sessions group by user_id order by user_id",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            users: sqlx::query_as(
                "select id, role, disabled_at, auth_epoch, password_hash, temporary_password_at from users order by id",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            members: sqlx::query_as("select workflow_id, user_id from workflow_members order by workflow_id, user_id")
                .fetch_all(pool)
                .await
                .unwrap(),
            workflows: sqlx::query_as("select id, settings_version, description from workflows order by id")
                .fetch_all(pool)
                .await
                .unwrap(),
            items: sqlx::query_as(
                "select id, state, assigned_to, leased_by, lease_token, lease_expires_at from items order by id",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            api_keys: sqlx::query_as("select id, revoked_at from api_keys order by id").fetch_all(pool).await.unwrap(),
            endpoints: sqlx::query_as("select id, url, secret, previous_secret from webhook_endpoints order by id")
                .fetch_all(pool)
                .await
                .unwrap(),
            outbox: sqlx::query_as("select id, status, attempts from webhook_outbox order by id")
                .fetch_all(pool)
                .await
                .unwrap(),
        }
    }
}

type UserRow = (i64, String, Option<i64>, i64, String, Option<i64>);
type ItemRow = (i64, String, Option<i64>, Option<i64>, Option<String>, Option<i64>);

#[derive(Debug, PartialEq)]
struct Snapshot {
    counts: Vec<(&'static str, i64)>,
    sessions_by_user: Vec<(Option<i64>, i64)>,
    users: Vec<UserRow>,
    members: Vec<(i64, i64)>,
    workflows: Vec<(i64, i64, String)>,
    items: Vec<ItemRow>,
    api_keys: Vec<(i64, Option<i64>)>,
    endpoints: Vec<(i64, String, String, Option<String>)>,
    outbox: Vec<(i64, String, i64)>,
}

impl Snapshot {
    /// What differs in `after`, part by part: the rows that went and the rows that came.
    fn differences(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        differ("counts", &self.counts, &after.counts, &mut out);
        differ("sessions by user", &self.sessions_by_user, &after.sessions_by_user, &mut out);
        differ("users", &self.users, &after.users, &mut out);
        differ("workflow members", &self.members, &after.members, &mut out);
        differ("workflows", &self.workflows, &after.workflows, &mut out);
        differ("items", &self.items, &after.items, &mut out);
        differ("api keys", &self.api_keys, &after.api_keys, &mut out);
        differ("webhook endpoints", &self.endpoints, &after.endpoints, &mut out);
        differ("webhook outbox", &self.outbox, &after.outbox, &mut out);
        out
    }
}

fn differ<T: PartialEq + Debug>(part: &str, before: &[T], after: &[T], out: &mut Vec<String>) {
    if before != after {
        let went: Vec<&T> = before.iter().filter(|row| !after.contains(row)).collect();
        let came: Vec<&T> = after.iter().filter(|row| !before.contains(row)).collect();
        out.push(format!("{part}: {went:?} became {came:?}"));
    }
}

/// A workflow's settings form as an admin fills it in to create one.
fn new_workflow(slug: &str, members: &str) -> WorkflowForm {
    WorkflowForm {
        slug: slug.to_owned(),
        name: slug.to_uppercase(),
        members: members.to_owned(),
        payload_schema: "{}".into(),
        prediction_schema: r#"{"type": "object", "required": ["label"]}"#.into(),
        labels: "invoice, receipt".into(),
        reason_codes: "blurry, wrong_document".into(),
        auto_approve_at: "0.9".into(),
        escalate_below: "0.2".into(),
        audit_rate: "0".into(),
        rollout_share: "1".into(),
        target_error_rate: "0.02".into(),
        review_sla_minutes: "240".into(),
        escalation_sla_minutes: "480".into(),
        lease_minutes: "30".into(),
        ..WorkflowForm::default()
    }
}

/// The fields `workflows/save` takes, from a settings form.
fn workflow_fields(form: &WorkflowForm, mode: &str, reason: &str) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("mode", mode.to_owned()),
        ("slug", form.slug.clone()),
        ("name", form.name.clone()),
        ("description", form.description.clone()),
        ("owner", form.owner.clone()),
        ("members", form.members.clone()),
        ("payload_schema", form.payload_schema.clone()),
        ("prediction_schema", form.prediction_schema.clone()),
        ("labels", form.labels.clone()),
        ("reason_codes", form.reason_codes.clone()),
        ("auto_approve_at", form.auto_approve_at.clone()),
        ("escalate_below", form.escalate_below.clone()),
        ("audit_rate", form.audit_rate.clone()),
        ("rollout_share", form.rollout_share.clone()),
        ("target_error_rate", form.target_error_rate.clone()),
        ("review_sla_minutes", form.review_sla_minutes.clone()),
        ("escalation_sla_minutes", form.escalation_sla_minutes.clone()),
        ("lease_minutes", form.lease_minutes.clone()),
        ("reason", reason.to_owned()),
    ];
    if form.paused {
        fields.push(("paused", "on".to_owned()));
    }
    fields
}
