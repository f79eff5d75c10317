use leptos::prelude::*;

/// A data table with column headers; an empty header names an actions column for screen readers
/// only. The rows are the children.
#[component]
pub fn DataTable(columns: &'static [&'static str], children: Children) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table">
                <thead>
                    <tr>
                        {columns
                            .iter()
                            .map(|name| {
                                if name.is_empty() {
                                    view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> }.into_any()
                                } else {
                                    view! { <th scope="col">{*name}</th> }.into_any()
                                }
                            })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
}
