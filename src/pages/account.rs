use crate::account::SessionSummary;
use crate::account::api::{ChangePassword, EndOtherSessions, EndSession, my_sessions};
use crate::components::auth::Auth;
use crate::components::form::{ErrorAlert, Field, Submit, action_error};
use crate::components::format::when;
use crate::components::layout::Protected;
use crate::components::post_form::PostForm;
use crate::components::table::DataTable;
use crate::domain::{Password, Role};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/account`: the signed-in person's own password and sessions, whatever their role. The one
/// page open to someone who must still replace a password an admin chose.
#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <Protected role=Role::Reviewer own_account=true>
            <Account />
        </Protected>
    }
}

#[component]
fn Account() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let query = use_query_map();
    let changed = move || {
        query.with(|q| q.get_str("changed") == Some("password"))
            || auth.change_password.answer().get().is_some_and(|result| result.is_ok())
    };
    view! {
        <Title text="Your account" />
        <Suspense>
            {move || Suspend::new(async move {
                auth.user.await.ok().flatten().map(|user| {
                    let summary = format!("{} · {} · {}", user.name, user.email, user.role.label());
                    view! {
                        <div class="page-header">
                            <h1>"Your account"</h1>
                            <p class="lead">{summary}</p>
                        </div>
                        {user.must_change_password.then(|| view! {
                            <div class="alert info" role="alert" id="choose-password">
                                <span class="alert-icon" aria-hidden="true">"i"</span>
                                <span>"An admin chose the password you signed in with. Choose your own below to continue: the rest of Gatehouse opens once you have."</span>
                            </div>
                        })}
                    }
                })
            })}
        </Suspense>
        <div role="status" class="status-line">
            {move || changed().then_some("Your password was changed. Your other sessions have ended.")}
        </div>
        <ChangePasswordPanel />
        <SessionsPanel />
    }
}

#[component]
fn ChangePasswordPanel() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let error = auth.change_password.error();
    view! {
        <section class="panel" aria-labelledby="password-heading">
            <h2 id="password-heading">"Change your password"</h2>
            <PostForm post=auth.change_password to=ChangePassword::PATH attr:class="form-grid" attr:aria-label="Change your password">
                <ErrorAlert error id="password-error" />
                <Field id="current-password" label="Current password" name="current_password" kind="password" autocomplete="current-password" required=true error error_id="password-error" />
                <Field id="new-password" label="New password" name="new_password" kind="password" autocomplete="new-password" required=true minlength=Password::MIN_CHARS hint="At least 12 characters. A few unrelated words are easy to remember and hard to guess." error error_id="password-error" />
                <Field id="new-password-confirm" label="New password again" name="new_password_confirm" kind="password" autocomplete="new-password" required=true minlength=Password::MIN_CHARS error error_id="password-error" />
                <div class="form-actions">
                    <Submit label="Change password" pending=auth.change_password.pending() />
                </div>
            </PostForm>
        </section>
    }
}

#[component]
fn SessionsPanel() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let end = ServerAction::<EndSession>::new();
    let end_others = ServerAction::<EndOtherSessions>::new();
    let sessions = Resource::new(
        move || (end.version().get(), end_others.version().get(), auth.change_password.version().get()),
        |_| my_sessions(),
    );
    let error = Signal::derive(move || action_error(end).get().or_else(|| action_error(end_others).get()));
    let ended = move || {
        end_others.value().get().and_then(Result::ok).map(|n| match n {
            0 => "No other session was open.".to_owned(),
            1 => "Ended 1 other session.".to_owned(),
            n => format!("Ended {n} other sessions."),
        })
    };
    view! {
        <section class="panel" aria-labelledby="sessions-heading">
            <h2 id="sessions-heading">"Where you are signed in"</h2>
            <p class="muted">"Each browser signed in to your account. End any you do not recognise, then change your password; changing it ends every session but this one."</p>
            <ErrorAlert error id="sessions-error" />
            <div role="status" class="status-line">{ended}</div>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading sessions…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) => {
                            let others = list.iter().filter(|s| !s.current).count();
                            view! {
                                <SessionTable sessions=list end />
                                {(others > 0).then(|| view! {
                                    <ActionForm action=end_others attr:class="inline-form">
                                        <button type="submit" class="button">"End all other sessions"</button>
                                    </ActionForm>
                                })}
                            }
                            .into_any()
                        }
                        Err(error) => view! { <p class="alert error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn SessionTable(sessions: Vec<SessionSummary>, end: ServerAction<EndSession>) -> impl IntoView {
    view! {
        <DataTable columns=&["Browser", "Signed in", "Last active", "Address", ""]>
            {sessions.into_iter().map(|session| view! { <SessionRow session end /> }).collect_view()}
        </DataTable>
    }
}

#[component]
fn SessionRow(session: SessionSummary, end: ServerAction<EndSession>) -> impl IntoView {
    let signed_in = session.signed_in_at_ms.map(when).unwrap_or_else(|| "unknown".into());
    let label = format!("End the session of {}, signed in {signed_in}", session.device);
    view! {
        <tr>
            <th scope="row">{session.device.clone()}</th>
            <td>{signed_in.clone()}</td>
            <td>{session.active_at_ms.map(when).unwrap_or_else(|| "unknown".into())}</td>
            <td class="mono">{session.client_ip.clone().unwrap_or_else(|| "unknown".into())}</td>
            <td>
                {if session.current {
                    view! { <span class="badge ok">"This session"</span> }.into_any()
                } else {
                    view! {
                        <ActionForm action=end attr:class="inline-form">
                            <input type="hidden" name="handle" value=session.handle.clone() />
                            <button type="submit" class="button small" aria-label=label>"End"</button>
                        </ActionForm>
                    }
                    .into_any()
                }}
            </td>
        </tr>
    }
}
