//! The stdio transport: newline-delimited JSON-RPC on any reader/writer pair, strict about
//! input that is not a JSON-RPC message.
//!
//! rmcp's own line transport drops a line that is not JSON without a word (rmcp issue #938:
//! it avoids error storms with peers that echo). JSON-RPC 2.0 (§5, §5.1) requires an answer:
//! `-32700 Parse error` with `id: null` for invalid JSON, `-32600 Invalid Request` (with the
//! request's id when it has one) for JSON that is not a request, response or notification.
//! Error responses are never answered in turn, so no storm can start from this side.

use std::marker::PhantomData;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

/// Longest accepted line (one message), as rmcp's default: 16 MiB.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A server-side transport over `read` (client → server) and `write` (server → client).
pub struct StrictLineTransport<R, W> {
    read: BufReader<R>,
    /// The line being read; survives a cancelled `receive` (it is polled inside `select!`).
    line: Vec<u8>,
    /// Dropping the rest of an over-long line.
    discarding: bool,
    write: Arc<Mutex<W>>,
    /// Error responses being written; `close` waits for them.
    pending: JoinSet<()>,
    _role: PhantomData<fn() -> RoleServer>,
}

impl<R, W> StrictLineTransport<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    pub fn new(read: R, write: W) -> Self {
        StrictLineTransport {
            read: BufReader::new(read),
            line: Vec::new(),
            discarding: false,
            write: Arc::new(Mutex::new(write)),
            pending: JoinSet::new(),
            _role: PhantomData,
        }
    }

    /// Queue an error response on the writer. Spawned, so a cancelled `receive` never leaves
    /// half a line on stdout; the writer's lock keeps lines whole.
    fn answer(&mut self, response: Value) {
        while self.pending.try_join_next().is_some() {}
        let write = self.write.clone();
        self.pending.spawn(async move {
            if let Err(err) = write_line(&write, response.to_string().into_bytes()).await {
                tracing::debug!(error = %err, "could not write an error response");
            }
        });
    }

    /// One line into `self.line`; `Ok(false)` at end of input. Over-long lines answer a parse
    /// error and are skipped.
    async fn read_line(&mut self) -> std::io::Result<bool> {
        loop {
            let (consumed, done, oversized) = {
                let available = self.read.fill_buf().await?;
                if available.is_empty() {
                    return Ok(false);
                }
                let newline = available.iter().position(|b| *b == b'\n');
                let take = newline.map_or(available.len(), |i| i + 1);
                if self.discarding {
                    if newline.is_some() {
                        self.discarding = false;
                    }
                    (take, false, false)
                } else if self.line.len() + take > MAX_LINE_BYTES {
                    self.line.clear();
                    self.discarding = newline.is_none();
                    (take, false, true)
                } else {
                    self.line.extend_from_slice(&available[..take]);
                    (take, newline.is_some(), false)
                }
            };
            self.read.consume(consumed);
            if oversized {
                self.answer(error_response(
                    Value::Null,
                    -32700,
                    format!("Parse error: message longer than {MAX_LINE_BYTES} bytes"),
                ));
            }
            if done {
                return Ok(true);
            }
        }
    }
}

async fn write_line<W: AsyncWrite + Unpin>(
    write: &Mutex<W>,
    mut bytes: Vec<u8>,
) -> std::io::Result<()> {
    bytes.push(b'\n');
    let mut write = write.lock().await;
    write.write_all(&bytes).await?;
    write.flush().await
}

fn error_response(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// What to do with one line of input.
#[derive(Debug)]
pub(crate) enum Line {
    Message(Box<ClientJsonRpcMessage>),
    /// Answer this (a JSON-RPC error response) and read on.
    Answer(Value),
    /// Nothing to deliver or answer (blank line, unknown notification, a peer's error).
    Skip,
}

/// Classify one line of input (also used by the HTTP service for POST bodies).
pub(crate) fn classify(line: &[u8]) -> Line {
    let line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Line::Skip;
    }
    // The usual case, a well-formed message, is read once and straight into its type; only a
    // message that does not read so goes through the value below to say what is wrong.
    if let Ok(message) = serde_json::from_slice::<ClientJsonRpcMessage>(line) {
        return Line::Message(Box::new(message));
    }
    let value: Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(err) => {
            return Line::Answer(error_response(
                Value::Null,
                -32700,
                format!("Parse error: the message is not valid JSON ({err})"),
            ));
        }
    };
    let id = value
        .get("id")
        .cloned()
        .filter(|id| id.is_string() || id.is_number());
    let is_request_like = value.get("method").is_some();
    match serde_json::from_value::<ClientJsonRpcMessage>(value.clone()) {
        Ok(message) => Line::Message(Box::new(message)),
        // A notification cannot be answered (JSON-RPC §4.1); rmcp also ignores the ones it
        // does not know (e.g. LSP messages).
        Err(_) if is_request_like && id.is_none() && value.get("id").is_none() => Line::Skip,
        // An error or response we cannot read: answering an error with an error could loop.
        Err(_) if value.get("error").is_some() || value.get("result").is_some() => Line::Skip,
        Err(err) => {
            let why = if value.is_array() {
                "batches are not supported; send one message per line".to_owned()
            } else if !value.is_object() {
                "a message must be a JSON object".to_owned()
            } else {
                err.to_string()
            };
            Line::Answer(error_response(
                id.unwrap_or(Value::Null),
                -32600,
                format!("Invalid Request: {why}"),
            ))
        }
    }
}

impl<R, W> Transport<RoleServer> for StrictLineTransport<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let write = self.write.clone();
        async move {
            let bytes = serde_json::to_vec(&item).map_err(std::io::Error::other)?;
            write_line(&write, bytes).await
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            match self.read_line().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(err) => {
                    tracing::error!(error = %err, "reading stdin failed");
                    return None;
                }
            }
            let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let outcome = classify(line);
            self.line.clear();
            match outcome {
                Line::Message(message) => return Some(*message),
                Line::Answer(response) => self.answer(response),
                Line::Skip => {}
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        while self.pending.join_next().await.is_some() {}
        self.write.lock().await.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(line: &str) -> Value {
        match classify(line.as_bytes()) {
            Line::Answer(v) => v,
            other => panic!("{line}: expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn lines_are_classified_as_json_rpc_requires() {
        let parse = answer("{not json");
        assert_eq!(parse["error"]["code"], -32700);
        assert!(parse["id"].is_null() && parse.get("id").is_some());
        assert_eq!(answer("[1, 2]")["error"]["code"], -32600);
        assert_eq!(answer("42")["error"]["code"], -32600);
        let invalid = answer(r#"{"jsonrpc": "2.0", "id": 7, "params": {}}"#);
        assert_eq!(
            (invalid["error"]["code"].as_i64(), invalid["id"].as_i64()),
            (Some(-32600), Some(7))
        );
        assert!(matches!(classify(b"   "), Line::Skip));
        // Notifications are never answered, whether rmcp knows them or not.
        assert!(!matches!(
            classify(br#"{"jsonrpc":"2.0","method":"$/lsp","params":5}"#),
            Line::Answer(_)
        ));
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32700,"message":"x"}}"#),
            Line::Message(_) | Line::Skip
        ));
        assert!(matches!(
            classify(b"\xEF\xBB\xBF{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"),
            Line::Message(_)
        ));
    }
}
