//! Credentials: short-lived JWT access tokens ([`JwtKeys`]), the bearer security
//! scheme every tenant operation takes ([`Auth`]), and argon2id password hashing
//! ([`PasswordHasher`]). Sessions (signup, invitations, login, refresh) are the identity module's.

mod password;
mod scheme;
mod token;

pub use password::{HashingFor, PasswordHasher, Peppers, check_password, password_too_long};
pub use scheme::{Auth, VerifiedCaller};
pub use token::{Claims, JwtKeys};
