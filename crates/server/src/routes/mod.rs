//! Route handlers, one module per area of the API.

pub mod admin;
pub mod connectors;
pub mod credentials;
pub mod oauth;
pub mod ops;
pub mod proxy;
pub mod records;
pub mod webhooks;
