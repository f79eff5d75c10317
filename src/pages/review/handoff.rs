//! What a decision's answer carries to the page it leads to, so that page shows it without
//! asking the server again.

use crate::components::browser_clock::js_now;
use crate::review::{Receipt, ReviewItem, UndoOffer};
use leptos::prelude::*;
use leptos_router::NavigateOptions;

/// What a decision's answer brought for the page it leads to: the next item and the undo banner.
/// The pages take them from here instead of asking the server again. Provided once by the app,
/// so it outlives the page that made the decision.
#[derive(Clone, Copy)]
pub struct Handoff {
    item: StoredValue<Option<ReviewItem>>,
    /// The offer, and when it arrived on the browser's clock.
    undo: StoredValue<Option<(UndoOffer, i64)>>,
}

impl Handoff {
    pub fn provide() {
        provide_context(Handoff { item: StoredValue::new(None), undo: StoredValue::new(None) });
    }

    /// Keeps what `receipt` brought and goes where it leads.
    pub fn follow(self, receipt: Receipt, navigate: &impl Fn(&str, NavigateOptions)) {
        let href = receipt.next_href();
        self.item.set_value(receipt.next);
        self.undo.set_value(receipt.undo.map(|offer| (offer, js_now())));
        navigate(&href, NavigateOptions::default());
    }

    /// The item, once: a later visit to its page asks the server.
    pub fn take_item(self, item_id: i64) -> Option<ReviewItem> {
        self.item.try_update_value(|slot| slot.take_if(|item| item.item_id == item_id)).flatten()
    }

    /// The offer, as often as asked (a page visited again asks again), its clock moved on by
    /// the time since it arrived, so the banner never shows more time than is left.
    pub fn undo(self, decision_id: i64) -> Option<UndoOffer> {
        let (offer, arrived) = self.undo.get_value().filter(|(offer, _)| offer.decision_id == decision_id)?;
        Some(UndoOffer { now_ms: offer.now_ms + (js_now() - arrived), ..offer })
    }
}
