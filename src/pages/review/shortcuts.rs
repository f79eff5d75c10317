//! The review page's single-key shortcuts: `a` approve, `r` reject, `c` correct, `e` escalate,
//! `s` skip, `u` undo, `?` the list, `Esc` closes a form. Only while focus is not in a text field,
//! and only with JavaScript: without it every form still works with Tab and Enter.

use leptos::html;
use leptos::prelude::*;

/// The forms and boxes the keys act on.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub struct Shortcuts {
    pub approve_form: NodeRef<html::Form>,
    pub skip_form: NodeRef<html::Form>,
    pub reject_box: NodeRef<html::Details>,
    pub correct_box: NodeRef<html::Details>,
    pub escalate_box: NodeRef<html::Details>,
    pub help_box: NodeRef<html::Details>,
}

/// Single-key shortcuts while focus is not in a text field.
#[cfg(feature = "hydrate")]
pub fn keyboard_shortcuts(keys: Shortcuts) {
    use wasm_bindgen::JsCast;
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
            return;
        }
        let typing = ev
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        let key = ev.key();
        if key == "Escape" {
            for b in [keys.reject_box, keys.correct_box, keys.escalate_box, keys.help_box] {
                if let Some(b) = b.get_untracked() {
                    b.set_open(false);
                }
            }
            return;
        }
        if typing {
            return;
        }
        let open = |details: NodeRef<html::Details>| {
            if let Some(d) = details.get_untracked() {
                d.set_open(true);
                if let Ok(Some(first)) = d.query_selector("select, input:not([type=hidden]), textarea")
                    && let Ok(first) = first.dyn_into::<leptos::web_sys::HtmlElement>()
                {
                    let _ = first.focus();
                }
            }
        };
        let submit = |form: NodeRef<html::Form>| {
            if let Some(f) = form.get_untracked() {
                let _ = f.request_submit();
            }
        };
        match key.as_str() {
            "a" => submit(keys.approve_form),
            "s" => submit(keys.skip_form),
            "r" => open(keys.reject_box),
            "c" => open(keys.correct_box),
            "e" => open(keys.escalate_box),
            "u" => {
                if let Some(form) = document().get_element_by_id("undo-form")
                    && let Ok(form) = form.dyn_into::<leptos::web_sys::HtmlFormElement>()
                {
                    let _ = form.request_submit();
                }
            }
            "?" => {
                if let Some(d) = keys.help_box.get_untracked() {
                    d.set_open(!d.open());
                }
            }
            _ => return,
        }
        ev.prevent_default();
    });
    on_cleanup(move || handle.remove());
}

#[cfg(not(feature = "hydrate"))]
pub fn keyboard_shortcuts(_keys: Shortcuts) {}
