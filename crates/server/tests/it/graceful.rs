//! SIGTERM on a container platform: `/readyz` turns 503 at once, the server keeps serving for
//! the drain delay, in-flight requests complete, then the listener closes.

use std::time::Duration;

use atlassian_sim::{Faults, SimConfig};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Db, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_before_the_listener_closes_and_in_flight_requests_finish() {
    let sim_cfg = SimConfig {
        issues_per_site: 20,
        faults: Faults {
            latency: Duration::from_millis(1500),
            ..Faults::default()
        },
        ..SimConfig::default()
    };
    let mut env = Env::start_with(Db::Sqlite, sim_cfg, |cfg| {
        cfg.drain_delay = Duration::from_secs(2);
        cfg.shutdown_timeout = Duration::from_secs(20);
    })
    .await;
    let id = env.seed_connector("slow").await;
    let key = env.key().to_owned();
    let ready = env.client.get(&env.url("/readyz"), None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);

    // A request that takes ~1.5 s upstream is in flight when the signal arrives.
    let (client, exec) = (
        env.client.clone(),
        env.url(&format!("/api/v1/integrations/connectors/{id}/execute")),
    );
    let in_flight = tokio::spawn(async move {
        client
            .post(
                &exec,
                Some(&key),
                &json!({"entity": "myself", "action": "get"}),
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    env.server.signal_shutdown();

    // At once: not ready, yet still answering.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let draining = env.client.get(&env.url("/readyz"), None).await;
    assert_eq!(
        draining.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        draining.text
    );
    let alive = env.client.get(&env.url("/healthz"), None).await;
    assert_eq!(alive.status, StatusCode::OK);

    let done = in_flight.await.expect("request task");
    assert_eq!(
        done.status,
        StatusCode::OK,
        "the in-flight request completed: {}",
        done.text
    );

    // After the drain delay the listener closes (bounded wait, no timing assertion on speed).
    let url = env.url("/healthz");
    let mut closed = false;
    for _ in 0..100 {
        if env.client.http.get(&url).send().await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the listener never closed after the drain delay");
}

/// Everything a raw TCP client reads within `limit`, and whether the server closed the
/// connection (EOF) in that time.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_head_connections_are_closed_but_slow_answers_are_not() {
    use tokio::io::AsyncWriteExt;
    let sim_cfg = SimConfig {
        issues_per_site: 4,
        faults: Faults {
            latency: Duration::from_millis(1200),
            ..Faults::default()
        },
        ..SimConfig::default()
    };
    let env = Env::start_with(Db::Sqlite, sim_cfg, |cfg| {
        cfg.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let id = env.seed_connector("slow").await;
    let addr = env.server.url.trim_start_matches("http://").to_owned();

    // A keep-alive connection that asks once and then says nothing is closed by the server.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: jiragate\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle keep-alive connection was kept open");

    // A request head that never ends (slowloris) does not hold its connection either.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: jiragate\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut slow, Duration::from_secs(10)).await;
    assert!(
        closed,
        "a connection with an unfinished head was kept open: {answer:?}"
    );
    assert!(!answer.contains(" 200 "), "{answer}");

    // An answer that takes four idle timeouts upstream is not cut: the connection is busy.
    let done = env
        .client
        .post(
            &env.url(&format!("/api/v1/integrations/connectors/{id}/execute")),
            Some(env.key()),
            &json!({"entity": "myself", "action": "get"}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
}

/// What the MCP SDK's OAuth client does: POST with the head and the body in separate writes,
/// get the 401 (answered before the body was read), then send the next request on the same
/// connection at once. Either that connection still answers, or the 401 said it would close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_given_before_the_body_was_read_says_whether_the_connection_stays() {
    use tokio::io::AsyncWriteExt;
    let env = Env::start(Db::Sqlite).await;
    let addr = env.server.url.trim_start_matches("http://").to_owned();
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
    for attempt in 0..20 {
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /mcp HTTP/1.1\r\nhost: jiragate\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        // The answer comes before the body is sent.
        let mut first = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&first).contains("\r\n\r\n") {
            use tokio::io::AsyncReadExt;
            let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
                .await
                .expect("an answer to the head")
                .unwrap();
            assert!(n > 0, "closed before answering");
            first.extend_from_slice(&buf[..n]);
        }
        let first = String::from_utf8_lossy(&first).to_ascii_lowercase();
        assert!(first.starts_with("http/1.1 401"), "{first}");
        let says_close = first.contains("\r\nconnection: close\r\n");
        // The client sends the body late, then its next request on the same connection.
        let _ = conn.write_all(body).await;
        let _ = conn
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: jiragate\r\n\r\n")
            .await;
        let (rest, _) = read_until_closed(&mut conn, Duration::from_secs(2)).await;
        let answered = rest.contains("HTTP/1.1 200");
        assert!(
            says_close || answered,
            "attempt {attempt}: the connection closed without answering the next request, and \
             the 401 had said keep-alive: {first:?}"
        );
    }
}
