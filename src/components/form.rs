use crate::error::{AppError, FORM_ERROR_COOKIE};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos::server_fn::error::ServerFnUrlError;
use leptos_router::hooks::use_query_map;

/// The latest error of a server action, for display: from the action once it has run in this
/// page, else from the URL, where a form post without JavaScript puts it on the way back (see
/// [`error_from_address`]).
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<AppError>>
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let from_address = error_from_address(&[S::PATH]);
    Signal::derive(move || match action.value().get() {
        Some(result) => result.err(),
        None => from_address.get(),
    })
}

/// The error a form post without JavaScript to one of the server functions at `paths` brought
/// back in the address (`__path`, `__err`). Anybody can write such an address, so its message is
/// shown only when the server vouched for it (it set [`FORM_ERROR_COOKIE`] to the same error when
/// it redirected); otherwise only the kind of error is trusted ([`AppError::into_kind_message`]).
pub fn error_from_address(paths: &[&'static str]) -> Signal<Option<AppError>> {
    let paths = paths.to_vec();
    let query = use_query_map();
    Signal::derive(move || {
        query.with(|q| {
            if !q.get_str("__path").is_some_and(|path| paths.contains(&path)) {
                return None;
            }
            let raw = q.get_str("__err")?;
            let error = ServerFnUrlError::<AppError>::decode_err(raw);
            Some(if vouched_for(raw) { error } else { error.into_kind_message() })
        })
    })
}

/// Whether the error text `raw` from the address is the one the server sent this browser.
fn vouched_for(raw: &str) -> bool {
    form_error_cookie().as_deref() == Some(raw)
}

#[cfg(feature = "ssr")]
fn form_error_cookie() -> Option<String> {
    let parts = use_context::<axum::http::request::Parts>()?;
    crate::auth::request_cookie(&parts.headers, FORM_ERROR_COOKIE)
}

#[cfg(all(not(feature = "ssr"), feature = "hydrate"))]
fn form_error_cookie() -> Option<String> {
    use wasm_bindgen::prelude::*;
    #[wasm_bindgen]
    extern "C" {
        type Document;
        #[wasm_bindgen(thread_local_v2, js_name = document)]
        static DOCUMENT: Document;
        #[wasm_bindgen(method, getter)]
        fn cookie(this: &Document) -> String;
    }
    DOCUMENT.with(|document| crate::auth::cookie_value(&document.cookie(), FORM_ERROR_COOKIE).map(str::to_owned))
}

#[cfg(all(not(feature = "ssr"), not(feature = "hydrate")))]
fn form_error_cookie() -> Option<String> {
    None
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

/// Whether the form's error is about the field `name`.
fn names_field(error: Signal<Option<AppError>>, name: &str) -> bool {
    error.with(|e| e.as_ref().and_then(AppError::field) == Some(name))
}

/// The `aria-describedby` of a field: its hint, and the form's error when it is about the field.
fn described_by(
    hint_id: Option<String>,
    invalid: impl Fn() -> bool + Send + Sync + 'static,
    error_id: String,
) -> impl Fn() -> Option<String> + Send + Sync + 'static {
    move || {
        let ids: Vec<&str> = hint_id.as_deref().into_iter().chain(invalid().then_some(error_id.as_str())).collect();
        (!ids.is_empty()).then(|| ids.join(" "))
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
    #[prop(optional)] inputmode: Option<&'static str>,
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(into)] error_id: String,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    let invalid = move || names_field(error, name);
    let described_by = described_by(hint.is_some().then(|| hint_id.clone()), invalid, error_id);
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
                inputmode=inputmode
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

/// A labelled multi-line input, marked invalid like [`Field`].
#[component]
pub fn TextArea(
    #[prop(into)] id: String,
    label: &'static str,
    name: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional, into)] value: String,
    #[prop(default = 4)] rows: u32,
    #[prop(optional)] monospace: bool,
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(into)] error_id: String,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    let invalid = move || names_field(error, name);
    let described_by = described_by(hint.is_some().then(|| hint_id.clone()), invalid, error_id);
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <textarea
                id=id
                name=name
                rows=rows
                class:mono=monospace
                spellcheck=(!monospace).to_string()
                aria-invalid=move || invalid().then_some("true")
                aria-describedby=described_by
            >
                {value}
            </textarea>
            {hint.map(|text| view! { <p class="hint" id=hint_id>{text}</p> })}
        </div>
    }
}

/// Shows a secret once: the one a script just received, or the one the server kept for this
/// page after a form post without JavaScript.
#[component]
pub fn OnceSecret(#[prop(into)] fresh: Signal<Option<String>>, #[prop(into)] intro: String) -> impl IntoView {
    let flashed = Resource::new(|| (), |_| crate::auth::api::take_flash_secret());
    view! {
        <div role="status">
            <Suspense>
                {move || {
                    let intro = intro.clone();
                    Suspend::new(async move {
                        let flashed = flashed.await.ok().flatten().map(|f| f.value);
                        let secret = fresh.get().or(flashed);
                        secret.map(|secret| view! {
                            <div class="alert info secret">
                                <p>{intro}</p>
                                <code>{secret}</code>
                            </div>
                        })
                    })
                }}
            </Suspense>
        </div>
    }
}
