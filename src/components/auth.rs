//! The signed-in user as every page sees them, and the actions that change who it is.

use crate::account::api::ChangePassword;
use crate::auth::SessionUser;
use crate::auth::api::{CreateFirstAdmin, Login, Logout, current_user};
use crate::components::post_form::FormPost;
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// Who is signed in, and the actions that change it. Provided once by the app.
#[derive(Clone, Copy)]
pub struct Auth {
    pub login: FormPost<SessionUser>,
    pub logout: FormPost<()>,
    pub setup: FormPost<SessionUser>,
    /// Changing one's own password (the account page): it may lift the must-change flag.
    pub change_password: FormPost<()>,
    pub user: Resource<Result<Option<SessionUser>, AppError>>,
}

impl Auth {
    pub fn provide() -> Self {
        let login = FormPost::new(&[Login::PATH]);
        let logout = FormPost::new(&[Logout::PATH]);
        let setup = FormPost::new(&[CreateFirstAdmin::PATH]);
        let change_password = FormPost::new(&[ChangePassword::PATH]);
        let user = Resource::new(
            move || {
                (login.version().get(), logout.version().get(), setup.version().get(), change_password.version().get())
            },
            |_| current_user(),
        );
        let auth = Self { login, logout, setup, change_password, user };
        provide_context(auth);
        auth
    }
}
