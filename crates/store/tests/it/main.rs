mod common;

mod canary;
mod concurrency;
mod crud;
mod isolation;
mod leases;
mod lifecycle;
mod webhooks;
