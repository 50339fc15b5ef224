//! Sessions: signup and its confirmation, accepting an invitation, login, refresh-token
//! rotation, logout and `/auth/me`.

mod api;
mod store;

pub use api::AuthApi;

use super::MODULE;
