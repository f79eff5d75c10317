//! The browser's clock, for what ticks on the page (time left on a lease, an undo banner).

/// Milliseconds on the browser's clock (0 on the server, where nothing ticks).
pub fn js_now() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys_now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

#[cfg(feature = "hydrate")]
fn js_sys_now() -> i64 {
    leptos::web_sys::js_sys::Date::now() as i64
}
