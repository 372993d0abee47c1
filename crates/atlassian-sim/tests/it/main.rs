//! Integration tests over real sockets: every test starts its own simulator on 127.0.0.1:0.

mod agile;
mod api_auth;
mod attachments;
mod common;
mod conformance;
mod faults;
mod oauth;
mod platform;
mod search;
mod servicedesk;
mod startup;
mod webhooks;
