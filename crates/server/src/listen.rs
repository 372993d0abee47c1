//! The accept loop: hyper-util's connection builder, as `axum::serve` drives it, plus a timer.
//!
//! With the timer, `idle_timeout` bounds how long a connection may wait for the next request
//! head: an idle keep-alive connection, and a head that trickles in (slowloris). Without it a
//! client holds a connection, its task and its buffers for as long as it likes, and a burst's
//! connections keep the burst's memory after the load ends. A request that is being answered
//! is not idle: slow answers and event streams are bounded by the request timeout, not this.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

use crate::head_errors::ProblemListener;

/// Accepts connections until `stop` completes, then returns the watch over the connections
/// still open, for the caller to drain.
pub(crate) async fn accept_until(
    mut listener: ProblemListener,
    router: Router,
    idle_timeout: Duration,
    stop: impl Future<Output = ()>,
) -> GracefulShutdown {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout);
    let connections = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        // `accept` retries transient errors (EMFILE and the like) itself, after a pause.
        let (io, _addr) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut stop => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        let conn = connections.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    connections
}
