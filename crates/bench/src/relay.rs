//! The floor of any hop: a TCP relay that does no work (`jiragate-bench --relay-to ADDR`, run
//! as a child process of the bench, on tokio like `serve`). It accepts on 127.0.0.1, opens one
//! upstream connection per client connection and copies bytes both ways: no HTTP parsing, no
//! authentication, no TLS. What a call through it costs above the direct call is what one more
//! loopback hop costs on this machine (two more socket writes and reads, two more wake-ups),
//! the least any proxy, jiragate included, can add.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Serves until the process is killed; the first stdout line is `relay listening on <addr>`.
pub async fn serve(target: SocketAddr) -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the relay")?;
    let mut out = tokio::io::stdout();
    out.write_all(format!("relay listening on {}\n", listener.local_addr()?).as_bytes())
        .await?;
    out.flush().await?;
    loop {
        let (mut client, _) = listener.accept().await.context("accepting")?;
        tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect(target).await else {
                return;
            };
            // As `serve` and the simulator do: small answers must not wait for a delayed ACK.
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
    }
}
