//! The shared CRM core every vertical builds on.

pub mod companies;
pub mod contacts;
pub mod deals;
pub mod list;
pub mod users;
