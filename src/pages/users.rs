use crate::components::form::{ErrorAlert, Field, Submit, action_error};
use crate::components::layout::Protected;
use crate::components::table::DataTable;
use crate::domain::{Password, Role};
use crate::users::UserSummary;
use crate::users::api::{AddUser, ResetUserPassword, SetUserDisabled, SetUserRole, list_users};
use leptos::prelude::*;
use leptos_meta::Title;

#[derive(Clone, Copy)]
struct UserActions {
    add: ServerAction<AddUser>,
    set_role: ServerAction<SetUserRole>,
    set_disabled: ServerAction<SetUserDisabled>,
    reset: ServerAction<ResetUserPassword>,
}

#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Protected role=Role::Admin>
            <UsersAdmin />
        </Protected>
    }
}

#[component]
fn UsersAdmin() -> impl IntoView {
    let actions = UserActions {
        add: ServerAction::new(),
        set_role: ServerAction::new(),
        set_disabled: ServerAction::new(),
        reset: ServerAction::new(),
    };
    let users = Resource::new(
        move || {
            (
                actions.add.version().get(),
                actions.set_role.version().get(),
                actions.set_disabled.version().get(),
                actions.reset.version().get(),
            )
        },
        |_| list_users(),
    );
    let add_error = action_error(actions.add);
    let row_error = Signal::derive(move || {
        [
            action_error(actions.set_role).get(),
            action_error(actions.set_disabled).get(),
            action_error(actions.reset).get(),
        ]
        .into_iter()
        .flatten()
        .next()
    });
    let added = move || actions.add.value().get().and_then(Result::ok);
    let reset_done = move || actions.reset.value().get().and_then(Result::ok);

    view! {
        <Title text="Users" />
        <div class="page-header">
            <p class="breadcrumb"><a href="/settings">"Settings"</a></p>
            <h1>"Users"</h1>
            <p class="lead">"Reviewers work queues, team leads also handle escalations, admins also change settings."</p>
        </div>

        <section class="panel" aria-labelledby="add-user-heading">
            <h2 id="add-user-heading">"Add a user"</h2>
            <ActionForm action=actions.add attr:class="form-grid" attr:aria-label="Add a user">
                <ErrorAlert error=add_error id="add-user-error" />
                <Field id="add-email" label="Email" name="email" kind="email" required=true error=add_error error_id="add-user-error" />
                <Field id="add-name" label="Name" name="name" autocomplete="off" error=add_error error_id="add-user-error" />
                <div class="field">
                    <label for="add-role">"Role"</label>
                    <select id="add-role" name="role">
                        {Role::ALL.map(|role| view! { <option value=role.as_str() selected=role == Role::Reviewer>{role.label()}</option> })}
                    </select>
                </div>
                <Field id="add-password" label="Temporary password" name="password" kind="password" autocomplete="new-password" required=true minlength=Password::MIN_CHARS hint="At least 12 characters. Share it privately." error=add_error error_id="add-user-error" />
                <div class="form-actions">
                    <Submit label="Add user" pending=actions.add.pending() />
                </div>
            </ActionForm>
            <div role="status" class="status-line">
                {move || added().map(|user| format!("Added {} as {}.", user.email, user.role.label()))}
            </div>
        </section>

        <section class="panel" aria-labelledby="all-users-heading">
            <h2 id="all-users-heading">"All users"</h2>
            <ErrorAlert error=row_error id="user-row-error" />
            <div role="status" class="status-line">
                {move || reset_done().map(|user| format!("New password set for {}. Their other sessions have ended.", user.email))}
            </div>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading users…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! { <UserTable users=list actions /> }.into_any(),
                        Err(error) => view! { <p class="alert error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn UserTable(users: Vec<UserSummary>, actions: UserActions) -> impl IntoView {
    view! {
            <DataTable columns=&["Name", "Email", "Role", "Status", ""]>
                        {users.into_iter().map(|user| view! { <UserRow user actions /> }).collect_view()}
    </DataTable>
        }
}

#[component]
fn UserRow(user: UserSummary, actions: UserActions) -> impl IntoView {
    let id = user.id.to_string();
    let (id_role, id_toggle) = (id.clone(), id.clone());
    let name = user.name.clone();
    let role_label = format!("Role for {name}");
    let change_label = format!("Change role of {name}");
    let password_label = format!("New password for {name}");
    let set_label = format!("Set new password for {name}");
    let current_role = user.role;
    let role_id = format!("role-{}", user.id);
    let password_id = format!("password-{}", user.id);
    let (status, status_class) = if user.disabled { ("Disabled", "badge muted") } else { ("Active", "badge ok") };
    let toggle_label = if user.disabled { format!("Enable {}", user.name) } else { format!("Disable {}", user.name) };
    let toggle_text = if user.disabled { "Enable" } else { "Disable" };
    view! {
        <tr>
            <th scope="row">{name}</th>
            <td>{user.email.clone()}</td>
            <td>
                <ActionForm action=actions.set_role attr:class="inline-form">
                    <input type="hidden" name="user_id" value=id_role />
                    <label for=role_id.clone() class="visually-hidden">{role_label}</label>
                    <select id=role_id name="role">
                        {Role::ALL.map(|role| view! { <option value=role.as_str() selected=role == current_role>{role.label()}</option> })}
                    </select>
                    <button type="submit" class="button small" aria-label=change_label>"Change"</button>
                </ActionForm>
            </td>
            <td><span class=status_class>{status}</span></td>
            <td>
                <div class="row-actions">
                <ActionForm action=actions.set_disabled attr:class="inline-form">
                    <input type="hidden" name="user_id" value=id_toggle />
                    <input type="hidden" name="disabled" value=(!user.disabled).to_string() />
                    <button type="submit" class="button small ghost" aria-label=toggle_label>{toggle_text}</button>
                </ActionForm>
                <details class="disclosure">
                    <summary>"Reset password"</summary>
                    <ActionForm action=actions.reset attr:class="inline-form">
                        <input type="hidden" name="user_id" value=id />
                        <label for=password_id.clone() class="visually-hidden">{password_label}</label>
                        <input id=password_id type="password" name="new_password" autocomplete="new-password" minlength=Password::MIN_CHARS required placeholder="New password" />
                        <button type="submit" class="button small" aria-label=set_label>"Set"</button>
                    </ActionForm>
                </details>
                </div>
            </td>
        </tr>
    }
}
