// CatalogError is large by interface (it wraps JiraError by value); fine in tests.
#![allow(clippy::result_large_err)]

mod conformance;
mod exec;
