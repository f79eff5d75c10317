//! Forms that the page's script posts to a server function just as the browser would post
//! them, fields untouched, and whose answer it reads.
//!
//! Leptos' `ActionForm` first decodes a form's fields into the function's arguments in the
//! browser and then encodes them again to send them, which puts a query-string decoder and
//! encoder for every such function into the WebAssembly that every page loads. A [`PostForm`]
//! sends the fields as they are: the WebAssembly holds one answer decoder per answer type,
//! shared by every form with that answer (the review page's five decisions all answer with a
//! receipt). Without JavaScript the browser posts the same form itself, and the server
//! redirects it back with any error in the address (see `form::error_from_address`).

use crate::components::form::error_from_address;
use crate::error::AppError;
use leptos::ev::SubmitEvent;
use leptos::html::Form;
use leptos::prelude::*;
use serde::de::DeserializeOwned;

/// What the forms answering with `O` on one page share: whether a post is under way, and the
/// last answer. Several forms may post through one (one decision at a time).
pub struct FormPost<O: Send + Sync + 'static> {
    answer: RwSignal<Option<Result<O, AppError>>>,
    pending: RwSignal<bool>,
    /// How many answers came: what changed when it did, even to an equal answer.
    version: RwSignal<usize>,
    /// The server functions its forms post to, for an error the server put in the address.
    paths: &'static [&'static str],
}

impl<O: Send + Sync + 'static> Clone for FormPost<O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O: Send + Sync + 'static> Copy for FormPost<O> {}

impl<O> FormPost<O>
where
    O: DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// For forms posting to the server functions at `paths` (their `ServerFn::PATH`).
    pub fn new(paths: &'static [&'static str]) -> Self {
        Self { answer: RwSignal::new(None), pending: RwSignal::new(false), version: RwSignal::new(0), paths }
    }

    /// The last answer, once a form was posted from this page.
    pub fn answer(self) -> ReadSignal<Option<Result<O, AppError>>> {
        self.answer.read_only()
    }

    /// Whether a post is under way.
    pub fn pending(self) -> ReadSignal<bool> {
        self.pending.read_only()
    }

    /// How many answers came.
    pub fn version(self) -> ReadSignal<usize> {
        self.version.read_only()
    }

    /// The latest error, for display: the last answer's, else the one a post without
    /// JavaScript brought back in the address.
    pub fn error(self) -> Signal<Option<AppError>> {
        let from_address = error_from_address(self.paths);
        Signal::derive(move || match self.answer.get() {
            Some(answer) => answer.err(),
            None => from_address.get(),
        })
    }

    fn submit(self, to: &'static str, ev: SubmitEvent) {
        if ev.default_prevented() {
            return;
        }
        ev.prevent_default();
        if self.pending.get_untracked() {
            return;
        }
        let body = match form_body(&ev) {
            Ok(body) => body,
            Err(e) => return self.answer.set(Some(Err(e))),
        };
        self.pending.set(true);
        leptos::task::spawn_local(async move {
            let (answer, redirect) = match post_fields(to, body).await {
                Ok(Posted { text, redirect }) => (decode::<O>(&text), redirect),
                Err(e) => (Err(e), None),
            };
            // A redirect is followed once the answer is known, as the server function's own
            // client does; whatever depends on the answer sees it first.
            let redirect = redirect.filter(|_| answer.is_ok());
            self.answer.set(Some(answer));
            self.version.update(|n| *n += 1);
            self.pending.set(false);
            if let Some(location) = redirect {
                leptos::server_fn::redirect::call_redirect_hook(&location);
            }
        });
    }
}

/// A form posted through `post` to the server function at `to` (its `ServerFn::PATH`). Its
/// element takes `attr:` attributes (`attr:class`, `attr:aria-label`).
#[component]
pub fn PostForm<O>(
    post: FormPost<O>,
    to: &'static str,
    #[prop(optional)] node_ref: NodeRef<Form>,
    children: Children,
) -> impl IntoView
where
    O: DeserializeOwned + Clone + Send + Sync + 'static,
{
    view! {
        <form method="post" action=to node_ref=node_ref on:submit=move |ev| post.submit(to, ev)>
            {children()}
        </form>
    }
}

/// The form's fields (and the button that sent it), URL-encoded as the browser posts them.
fn form_body(ev: &SubmitEvent) -> Result<String, AppError> {
    let unreadable = || AppError::BadRequest { message: "The form's fields could not be read.".into() };
    let data = leptos::form::form_data_from_event(ev).map_err(|_| unreadable())?;
    let params = leptos::web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data).map_err(|_| unreadable())?;
    Ok(String::from(params.to_string()))
}

/// A server function's answer to a post, still as text (the one part that depends on the answer's
/// type, its decoding, is kept out of what every form shares), and where it redirects to.
struct Posted {
    text: String,
    redirect: Option<String>,
}

/// The answer's text as JSON, as the server functions send it (`crate::codec`).
fn decode<O: DeserializeOwned>(text: &str) -> Result<O, AppError> {
    serde_json::from_str(text).map_err(|_| AppError::Network { message: "an unreadable answer".into() })
}

/// Posts `body` to the server function at `path` as its own client would: an error status
/// carries the server's error.
#[cfg(feature = "hydrate")]
async fn post_fields(path: &str, body: String) -> Result<Posted, AppError> {
    use leptos::server_fn::ContentType;
    use leptos::server_fn::client::{Client, browser::BrowserClient};
    use leptos::server_fn::codec::PostUrl;
    use leptos::server_fn::error::FromServerFnError;
    use leptos::server_fn::request::{ClientReq, browser::BrowserRequest};
    use leptos::server_fn::response::ClientRes;
    type Response = <BrowserClient as Client<AppError>>::Response;

    let accepts = crate::codec::JsonTextEncoding::CONTENT_TYPE;
    let request = <BrowserRequest as ClientReq<AppError>>::try_new_post(path, PostUrl::CONTENT_TYPE, accepts, body)?;
    let response = <BrowserClient as Client<AppError>>::send(request).await?;
    let status = <Response as ClientRes<AppError>>::status(&response);
    let redirected = (300..=399).contains(&status) || <Response as ClientRes<AppError>>::has_redirect(&response);
    let redirect = redirected.then(|| <Response as ClientRes<AppError>>::location(&response));
    if (400..=599).contains(&status) {
        return Err(AppError::de(<Response as ClientRes<AppError>>::try_into_bytes(response).await?));
    }
    let text = <Response as ClientRes<AppError>>::try_into_string(response).await?;
    Ok(Posted { text, redirect })
}

/// On the server the forms are only rendered; the browser posts them.
#[cfg(not(feature = "hydrate"))]
async fn post_fields(_path: &str, _body: String) -> Result<Posted, AppError> {
    Err(AppError::BadRequest { message: "A form is posted by the browser, not by the server.".into() })
}
