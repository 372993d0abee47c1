//! Jira's answers carry absolute links to the upstream (`self`, `content`, `next` …). Through the
//! proxy, a client that follows them must come back to the proxy, never go to Atlassian with a
//! jiragate API key. [`LinkRewriter`] replaces the connection's upstream bases with the proxy's
//! own base in text bodies and `Location`/`Link` headers, streaming chunk by chunk: only a
//! pattern-length tail is ever held back, whatever the body size.

use bytes::{Bytes, BytesMut};
use futures::stream::{Stream, StreamExt};

/// Replacements from upstream prefixes to the proxy's base (longest first).
#[derive(Debug, Clone)]
pub struct LinkRewriter {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    longest: usize,
    /// The first byte of each pattern (a match can start nowhere else).
    starts: Vec<u8>,
}

impl LinkRewriter {
    /// `pairs` of (upstream prefix, proxy prefix). Empty prefixes are ignored.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = pairs
            .into_iter()
            .filter(|(from, _)| !from.is_empty())
            .map(|(f, t)| (f.into_bytes(), t.into_bytes()))
            .collect();
        pairs.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        pairs.dedup_by(|a, b| a.0 == b.0);
        let longest = pairs.iter().map(|p| p.0.len()).max().unwrap_or(0);
        let mut starts: Vec<u8> = pairs.iter().map(|p| p.0[0]).collect();
        starts.sort_unstable();
        starts.dedup();
        LinkRewriter {
            pairs,
            longest,
            starts,
        }
    }

    /// Whether a body of this content type is text that may carry links (JSON, XML, text).
    /// Anything else (attachments, images, archives) passes through byte for byte.
    pub fn applies_to(content_type: Option<&str>) -> bool {
        let Some(ct) = content_type else {
            return false;
        };
        let ct = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        ct.starts_with("text/")
            || ct == "application/json"
            || ct.ends_with("+json")
            || ct == "application/xml"
            || ct.ends_with("+xml")
            || ct == "application/javascript"
    }

    /// One whole value (a header): every occurrence replaced.
    pub fn rewrite_str(&self, s: &str) -> String {
        let mut out = Vec::with_capacity(s.len());
        let consumed = self.rewrite_into(s.as_bytes(), true, &mut out);
        debug_assert_eq!(consumed, s.len());
        // Only whole ASCII patterns are replaced by UTF-8 strings: the result stays UTF-8.
        String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
    }

    /// Rewrites `input` into `out`; returns how many bytes were consumed. Unless `last`, a tail
    /// that might be the start of a pattern is left unconsumed for the next chunk.
    fn rewrite_into(&self, input: &[u8], last: bool, out: &mut Vec<u8>) -> usize {
        let mut i = 0;
        let mut copied_from = 0;
        while i < input.len() {
            // Skip to the next byte that can start a pattern (most bytes cannot): one compare
            // per byte instead of a prefix comparison per pattern.
            let next = match self.starts.as_slice() {
                [one] => input[i..].iter().position(|b| b == one),
                many => input[i..].iter().position(|b| many.contains(b)),
            };
            match next {
                Some(skip) => i += skip,
                None => {
                    i = input.len();
                    break;
                }
            }
            let rest = &input[i..];
            if let Some((from, to)) = self.pairs.iter().find(|(f, _)| rest.starts_with(f)) {
                out.extend_from_slice(&input[copied_from..i]);
                out.extend_from_slice(to);
                i += from.len();
                copied_from = i;
                continue;
            }
            if !last
                && rest.len() < self.longest
                && self.pairs.iter().any(|(f, _)| f.starts_with(rest))
            {
                break;
            }
            i += 1;
        }
        out.extend_from_slice(&input[copied_from..i]);
        i
    }

    /// The body stream with every link rewritten, holding back at most one pattern's length.
    pub fn stream<S, E>(self, body: S) -> impl Stream<Item = Result<Bytes, E>> + Send
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Send + 'static,
    {
        let state = (self, BytesMut::new(), body.boxed(), false);
        futures::stream::unfold(state, |(rw, mut pending, mut body, done)| async move {
            if done {
                return None;
            }
            loop {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        pending.extend_from_slice(&chunk);
                        let mut out = Vec::with_capacity(pending.len() + 64);
                        let used = rw.rewrite_into(&pending, false, &mut out);
                        let _ = pending.split_to(used);
                        if !out.is_empty() {
                            return Some((Ok(Bytes::from(out)), (rw, pending, body, false)));
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), (rw, pending, body, true))),
                    None => {
                        let mut out = Vec::with_capacity(pending.len());
                        rw.rewrite_into(&pending, true, &mut out);
                        pending.clear();
                        if out.is_empty() {
                            return None;
                        }
                        return Some((Ok(Bytes::from(out)), (rw, pending, body, true)));
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rw() -> LinkRewriter {
        LinkRewriter::new(vec![
            (
                "https://api.atlassian.com/ex/jira/abc".into(),
                "http://jg:8080/api/v1/integrations/connectors/c1/proxy".into(),
            ),
            (
                "https://acme.atlassian.net/rest/".into(),
                "http://jg:8080/api/v1/integrations/connectors/c1/proxy/rest/".into(),
            ),
        ])
    }

    #[test]
    fn replaces_every_occurrence_and_leaves_the_rest() {
        let body = r#"{"self":"https://api.atlassian.com/ex/jira/abc/rest/api/3/issue/1","content":"https://acme.atlassian.net/rest/api/3/attachment/content/9","browse":"https://acme.atlassian.net/browse/ENG-1","other":"https://api.atlassian.com/ex/jira/abcd"}"#;
        let out = rw().rewrite_str(body);
        assert!(out.contains(
            r#""self":"http://jg:8080/api/v1/integrations/connectors/c1/proxy/rest/api/3/issue/1""#
        ));
        assert!(out.contains(r#""content":"http://jg:8080/api/v1/integrations/connectors/c1/proxy/rest/api/3/attachment/content/9""#));
        assert!(
            out.contains("https://acme.atlassian.net/browse/ENG-1"),
            "human links stay"
        );
        assert!(!out.contains("https://api.atlassian.com/ex/jira/abc/"));
    }

    #[test]
    fn content_types() {
        for ct in [
            "application/json",
            "application/json;charset=UTF-8",
            "text/html",
            "application/vnd.api+json",
        ] {
            assert!(LinkRewriter::applies_to(Some(ct)), "{ct}");
        }
        for ct in ["image/png", "application/octet-stream", "application/zip"] {
            assert!(!LinkRewriter::applies_to(Some(ct)), "{ct}");
        }
        assert!(!LinkRewriter::applies_to(None));
    }

    proptest! {
        /// Streaming in arbitrary chunks gives exactly what rewriting the whole body gives.
        #[test]
        fn chunking_never_changes_the_result(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("https://api.atlassian.com/ex/jira/abc".to_string()),
                    Just("https://acme.atlassian.net/rest/".to_string()),
                    Just("https://api.atlassian.com/ex/jira/ab".to_string()),
                    "[a-z\"/:.{},]{0,12}",
                ],
                0..30,
            ),
            cuts in proptest::collection::vec(1usize..17, 1..40),
        ) {
            let body = parts.concat();
            let whole = rw().rewrite_str(&body);
            let bytes = body.into_bytes();
            let mut chunks = Vec::new();
            let mut at = 0;
            for c in cuts.iter().cycle() {
                if at >= bytes.len() { break; }
                let end = (at + c).min(bytes.len());
                chunks.push(Ok::<_, std::io::Error>(Bytes::copy_from_slice(&bytes[at..end])));
                at = end;
            }
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let streamed: Vec<u8> = rt.block_on(async {
                rw().stream(futures::stream::iter(chunks))
                    .map(|r| r.unwrap())
                    .collect::<Vec<Bytes>>()
                    .await
                    .concat()
            });
            prop_assert_eq!(String::from_utf8(streamed).unwrap(), whole);
        }
    }
}
