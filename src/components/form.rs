use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos::server_fn::error::ServerFnUrlError;
use leptos_router::hooks::use_query_map;

/// The latest error of a server action, for display: from the action once it has run in this
/// page, else from the URL, where a form post without JavaScript puts it on the way back.
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<AppError>>
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let query = use_query_map();
    Signal::derive(move || match action.value().get() {
        Some(result) => result.err(),
        None => query.with(|q| {
            (q.get_str("__path") == Some(S::PATH))
                .then(|| q.get_str("__err").map(ServerFnUrlError::<AppError>::decode_err))
                .flatten()
        }),
    })
}

/// Announces a form's error to everyone, screen readers included.
#[component]
pub fn ErrorAlert(#[prop(into)] error: Signal<Option<AppError>>, #[prop(into)] id: String) -> impl IntoView {
    view! {
        <Show when=move || error.with(Option::is_some)>
            <div class="alert error" role="alert" id=id.clone()>
                <span class="alert-icon" aria-hidden="true">"!"</span>
                <span>{move || error.get().map(|e| e.to_string()).unwrap_or_default()}</span>
            </div>
        </Show>
    }
}

/// A labelled input. When the form's error names this field, the input is marked invalid and
/// described by the error.
#[component]
pub fn Field(
    #[prop(into)] id: String,
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "off")] autocomplete: &'static str,
    #[prop(optional)] required: bool,
    #[prop(optional)] minlength: Option<usize>,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional, into)] value: Option<String>,
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(into)] error_id: String,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    let invalid = move || error.with(|e| e.as_ref().and_then(AppError::field) == Some(name));
    let described_by = {
        let hint_id = hint_id.clone();
        move || {
            let mut ids = Vec::new();
            if hint.is_some() {
                ids.push(hint_id.clone());
            }
            if invalid() {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                required=required
                minlength=minlength
                value=value
                aria-invalid=move || invalid().then_some("true")
                aria-describedby=described_by
            />
            {hint.map(|text| view! { <p class="hint" id=hint_id>{text}</p> })}
        </div>
    }
}

/// A submit button that says when it is working.
#[component]
pub fn Submit(
    label: &'static str,
    #[prop(into)] pending: Signal<bool>,
    #[prop(default = "button primary")] class: &'static str,
) -> impl IntoView {
    view! {
        <button type="submit" class=class aria-busy=move || pending.get().then_some("true") disabled=move || pending.get()>
            {label}
        </button>
    }
}
