//! The signed-in user as every page sees them, and the actions that change who it is.

use crate::account::api::ChangePassword;
use crate::auth::SessionUser;
use crate::auth::api::{CreateFirstAdmin, Login, Logout, current_user};
use crate::error::AppError;
use leptos::prelude::*;

/// Who is signed in, and the actions that change it. Provided once by the app.
#[derive(Clone, Copy)]
pub struct Auth {
    pub login: ServerAction<Login>,
    pub logout: ServerAction<Logout>,
    pub setup: ServerAction<CreateFirstAdmin>,
    /// Changing one's own password (the account page): it may lift the must-change flag.
    pub change_password: ServerAction<ChangePassword>,
    pub user: Resource<Result<Option<SessionUser>, AppError>>,
}

impl Auth {
    pub fn provide() -> Self {
        let login = ServerAction::<Login>::new();
        let logout = ServerAction::<Logout>::new();
        let setup = ServerAction::<CreateFirstAdmin>::new();
        let change_password = ServerAction::<ChangePassword>::new();
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
