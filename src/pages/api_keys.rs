use crate::api_keys::KeySummary;
use crate::api_keys::api::{CreateApiKey, RevokeApiKey, list_api_keys};
use crate::components::form::{ErrorAlert, Field, OnceSecret, Submit, action_error};
use crate::components::format::when;
use crate::components::layout::Protected;
use crate::components::table::DataTable;
use crate::domain::Role;
use leptos::prelude::*;
use leptos_meta::Title;

/// `/settings/api-keys`: keys for automation systems.
#[component]
pub fn ApiKeysPage() -> impl IntoView {
    view! {
        <Protected role=Role::Admin>
            <ApiKeysAdmin />
        </Protected>
    }
}

#[component]
fn ApiKeysAdmin() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_api_keys());
    let error = action_error(create);
    let revoke_error = action_error(revoke);
    let token = move || create.value().get().and_then(Result::ok);
    view! {
        <Title text="API keys" />
        <div class="page-header">
            <p class="breadcrumb"><a href="/settings">"Settings"</a></p>
            <h1>"API keys"</h1>
            <p class="lead">"Automation systems send items with a key, as "<code>"Authorization: Bearer <key>"</code>". A key works only for the workflows it names. See the "<a href="/docs/api">"API reference"</a>"."</p>
        </div>
        <section class="panel" aria-labelledby="new-key-heading">
            <h2 id="new-key-heading">"Create a key"</h2>
            <ActionForm action=create attr:class="form-grid" attr:aria-label="Create a key">
                <ErrorAlert error id="key-error" />
                <Field id="key-name" label="Name" name="name" required=true hint="What uses it, e.g. ocr-pipeline." error error_id="key-error" />
                <Field id="key-workflows" label="Workflows" name="workflows" required=true hint="Slugs, comma-separated." error error_id="key-error" />
                <div class="field checkbox">
                    <input id="key-admin" type="checkbox" name="admin" value="on" />
                    <label for="key-admin">"Admin scope: may also import decision history and read threshold tuning"</label>
                </div>
                <div class="form-actions"><Submit label="Create key" pending=create.pending() /></div>
            </ActionForm>
            <OnceSecret fresh=Signal::derive(token) intro="The new key, shown only now. Store it in your automation's secrets:" />
        </section>
        <section class="panel" aria-labelledby="keys-heading">
            <h2 id="keys-heading">"Keys"</h2>
            <ErrorAlert error=revoke_error id="revoke-error" />
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading keys…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No keys yet."</p> }.into_any(),
                        Ok(list) => view! { <KeyTable keys=list revoke /> }.into_any(),
                        Err(error) => view! { <p class="alert error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn KeyTable(keys: Vec<KeySummary>, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    view! {
            <DataTable columns=&["Name", "Key", "Workflows", "Created", "Last used", "Status"]>
                        {keys
                            .into_iter()
                            .map(|k| {
                                let label = format!("Revoke {}", k.name);
                                view! {
                                    <tr>
                                        <th scope="row">{k.name.clone()}</th>
                                        <td class="mono">{k.prefix}</td>
                                        <td>{k.workflows.join(", ")}{k.admin.then(|| view! { <div class="sub">"admin scope"</div> })}</td>
                                        <td>{when(k.created_at_ms)}<div class="sub">{k.created_by}</div></td>
                                        <td>{k.last_used_at_ms.map(when).unwrap_or_else(|| "never".into())}</td>
                                        <td>
                                            {if k.revoked {
                                                view! { <span class="badge muted">"Revoked"</span> }.into_any()
                                            } else {
                                                view! {
                                                    <ActionForm action=revoke attr:class="inline-form">
                                                        <input type="hidden" name="key_id" value=k.id.to_string() />
                                                        <button type="submit" class="button small ghost" aria-label=label>"Revoke"</button>
                                                    </ActionForm>
                                                }.into_any()
                                            }}
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
    </DataTable>
        }
}
