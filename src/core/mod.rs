//! The shared CRM core every vertical builds on.

pub mod contacts;
pub mod list;
pub mod users;
