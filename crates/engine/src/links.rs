//! Jira's answers carry absolute links to the upstream (`self`, `content`, `next` …). Through the
//! proxy, a client that follows them must come back to the proxy, never go to Atlassian with a
//! jiragate API key. [`LinkRewriter`] replaces the connection's upstream bases with the proxy's
//! own base in text bodies and `Location`/`Link` headers: a whole body at once
//! ([`LinkRewriter::rewrite_bytes`]) or streaming chunk by chunk ([`LinkRewriter::stream`]),
//! where only a pattern-length tail is ever held back, whatever the body size.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::{Stream, StreamExt};

/// Replacements from upstream prefixes to the proxy's base (longest first). Cloning is cheap:
/// one rewriter serves every answer of a connection (see `Engine::proxy_links`).
#[derive(Debug, Clone)]
pub struct LinkRewriter {
    inner: Arc<Patterns>,
}

#[derive(Debug)]
struct Patterns {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    longest: usize,
    /// Per pattern (order of `pairs`): a prepared substring search (memchr's vectorised
    /// `memmem`) for its last [`ANCHOR`] bytes, and where in the pattern they start. The end of
    /// an upstream base (`…/rest/`, a cloud id) is rare in Jira's JSON; its beginning
    /// (`https://`, a host full of digits and dots) is not, and a search for it stops everywhere.
    anchors: Vec<(memchr::memmem::Finder<'static>, usize)>,
}

/// How many of a pattern's last bytes are searched for.
const ANCHOR: usize = 6;

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
        let anchors = pairs
            .iter()
            .map(|(from, _)| {
                let at = from.len().saturating_sub(ANCHOR);
                (memchr::memmem::Finder::new(&from[at..]).into_owned(), at)
            })
            .collect();
        LinkRewriter {
            inner: Arc::new(Patterns {
                pairs,
                longest,
                anchors,
            }),
        }
    }

    /// Whether a body of this content type is text that may carry links (JSON, XML, text).
    /// Anything else (attachments, images, archives) passes through byte for byte.
    pub fn applies_to(content_type: Option<&str>) -> bool {
        let Some(ct) = content_type else {
            return false;
        };
        let ct = ct.split(';').next().unwrap_or("").trim().as_bytes();
        let is = |s: &str| ct.eq_ignore_ascii_case(s.as_bytes());
        let starts =
            |s: &str| ct.len() >= s.len() && ct[..s.len()].eq_ignore_ascii_case(s.as_bytes());
        let ends = |s: &str| {
            ct.len() >= s.len() && ct[ct.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
        };
        starts("text/")
            || is("application/json")
            || ends("+json")
            || is("application/xml")
            || ends("+xml")
            || is("application/javascript")
    }

    /// One whole value (a header): every occurrence replaced.
    pub fn rewrite_str(&self, s: &str) -> String {
        let mut out = Vec::with_capacity(s.len());
        let consumed = self.rewrite_into(s.as_bytes(), true, &mut out);
        debug_assert_eq!(consumed, s.len());
        // Only whole ASCII patterns are replaced by UTF-8 strings: the result stays UTF-8.
        String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
    }

    /// Whether `rest`, shorter than the longest pattern, may still become one with more input.
    fn may_become_a_pattern(&self, rest: &[u8]) -> bool {
        rest.len() < self.inner.longest && self.inner.pairs.iter().any(|(f, _)| f.starts_with(rest))
    }

    /// Where pattern `k` next occurs whole in `input` at or after `from`: where its anchor
    /// occurs with the rest of the pattern before it.
    fn next_match(&self, k: usize, input: &[u8], from: usize) -> Option<usize> {
        let pattern = &self.inner.pairs[k].0;
        let (anchor, offset) = &self.inner.anchors[k];
        let mut search = from + offset;
        loop {
            let found = search + anchor.find(input.get(search..)?)?;
            let start = found - offset;
            if input[start..].starts_with(pattern) {
                return Some(start);
            }
            search = found + 1;
        }
    }

    /// Each pattern's first whole occurrence in `input`.
    fn first_matches(&self, input: &[u8]) -> Vec<Option<usize>> {
        (0..self.inner.pairs.len())
            .map(|k| self.next_match(k, input, 0))
            .collect()
    }

    /// Where in `input[from..until]` a pattern cut by the input's end may begin (the earliest
    /// such place), to be held back for the next chunk.
    fn cut_pattern_start(&self, input: &[u8], from: usize, until: usize) -> Option<usize> {
        let from = input.len().saturating_sub(self.inner.longest).max(from);
        (from..until).find(|&at| self.may_become_a_pattern(&input[at..]))
    }

    /// A whole body: every occurrence replaced. A body with no upstream link (most error
    /// answers, and any body when the patterns do not occur) is returned as it is, not copied.
    pub fn rewrite_bytes(&self, body: Bytes) -> Bytes {
        let first = self.first_matches(&body);
        if first.iter().all(Option::is_none) {
            return body;
        }
        // Proxy bases are longer than upstream ones: room for a link-heavy body, so the copy
        // is not grown (and copied again) on the way.
        let mut out = Vec::with_capacity(body.len() + body.len() / 4 + 256);
        let consumed = self.rewrite_from(&body, true, first, &mut out);
        debug_assert_eq!(consumed, body.len());
        Bytes::from(out)
    }

    /// Rewrites `input` into `out`; returns how many bytes were consumed. Unless `last`, a tail
    /// that might be the start of a pattern is left unconsumed for the next chunk.
    fn rewrite_into(&self, input: &[u8], last: bool, out: &mut Vec<u8>) -> usize {
        self.rewrite_from(input, last, self.first_matches(input), out)
    }

    /// [`Self::rewrite_into`] from each pattern's first occurrence (`next`), already searched.
    ///
    /// Each pattern's next occurrence is searched for by its anchor and searched again only
    /// once passed: the earliest wins, and at one place the longest (`pairs` order).
    fn rewrite_from(
        &self,
        input: &[u8],
        last: bool,
        mut next: Vec<Option<usize>>,
        out: &mut Vec<u8>,
    ) -> usize {
        let pairs = &self.inner.pairs;
        let mut i = 0;
        let mut copied_from = 0;
        loop {
            let mut earliest: Option<(usize, usize)> = None;
            for (k, found) in next.iter_mut().enumerate() {
                if found.is_some_and(|p| p < i) {
                    *found = self.next_match(k, input, i);
                }
                if let Some(p) = *found
                    && earliest.is_none_or(|(q, _)| p < q)
                {
                    earliest = Some((p, k));
                }
            }
            // Unless this is the end, a pattern cut by the chunk's end is held back: after the
            // last whole match, or before this one when it may hold it (one pattern inside
            // another).
            let until = earliest.map_or(input.len(), |(at, _)| at);
            if !last && let Some(cut) = self.cut_pattern_start(input, i, until) {
                i = cut;
                break;
            }
            let Some((at, k)) = earliest else {
                i = input.len();
                break;
            };
            let (from, to) = &pairs[k];
            out.extend_from_slice(&input[copied_from..at]);
            out.extend_from_slice(to);
            i = at + from.len();
            copied_from = i;
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

    /// A gateway connection's two upstream bases, the longer first.
    const PAIRS: [(&str, &str); 2] = [
        (
            "https://api.atlassian.com/ex/jira/abc",
            "http://jg:8080/api/v1/integrations/connectors/c1/proxy",
        ),
        (
            "https://acme.atlassian.net/rest/",
            "http://jg:8080/api/v1/integrations/connectors/c1/proxy/rest/",
        ),
    ];

    fn rw() -> LinkRewriter {
        LinkRewriter::new(
            PAIRS
                .iter()
                .map(|(from, to)| (from.to_string(), to.to_string()))
                .collect(),
        )
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
            "Application/JSON; charset=utf-8",
            "TEXT/plain",
            "application/atom+XML",
        ] {
            assert!(LinkRewriter::applies_to(Some(ct)), "{ct}");
        }
        for ct in [
            "image/png",
            "application/octet-stream",
            "application/zip",
            "json",
            "",
            "application/jsonx",
        ] {
            assert!(!LinkRewriter::applies_to(Some(ct)), "{ct}");
        }
        assert!(!LinkRewriter::applies_to(None));
    }

    #[test]
    fn a_body_without_links_is_returned_without_a_copy() {
        let body = Bytes::from_static(
            br#"{"key":"ENG-1","browse":"https://acme.atlassian.net/browse/ENG-1"}"#,
        );
        let out = rw().rewrite_bytes(body.clone());
        assert_eq!(out.as_ptr(), body.as_ptr(), "the same buffer, not a copy");
        assert_eq!(out, body);
        assert_eq!(rw().rewrite_bytes(Bytes::new()), Bytes::new());
    }

    #[test]
    fn four_patterns_each_match() {
        let many = LinkRewriter::new(vec![
            ("a1".into(), "A".into()),
            ("b2".into(), "B".into()),
            ("c3".into(), "C".into()),
            ("d4".into(), "D".into()),
        ]);
        assert_eq!(many.rewrite_str("xa1yb2zc3wd4a"), "xAyBzCwDa");
        assert_eq!(
            &many.rewrite_bytes(Bytes::from_static(b"d4 c3 b2 a1"))[..],
            b"D C B A"
        );
    }

    /// One pattern inside another, at an offset: chunked or whole, the outer one wins where it
    /// starts first.
    #[test]
    fn nested_patterns_rewrite_the_same_in_any_chunks() {
        let nested = || {
            LinkRewriter::new(vec![
                ("https://gw/https://s/ex/".into(), "<G>".into()),
                ("https://s/".into(), "<S>".into()),
            ])
        };
        let body = "a https://gw/https://s/ex/ b https://s/ c https://gw/https://s/";
        let whole = nested().rewrite_str(body);
        assert_eq!(whole, "a <G> b <S> c https://gw/<S>");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for cut in 1..body.len() {
            let (x, y) = body.as_bytes().split_at(cut);
            let chunks = vec![
                Ok::<_, std::io::Error>(Bytes::copy_from_slice(x)),
                Ok(Bytes::copy_from_slice(y)),
            ];
            let streamed: Vec<u8> = rt.block_on(async {
                nested()
                    .stream(futures::stream::iter(chunks))
                    .map(|r| r.unwrap())
                    .collect::<Vec<Bytes>>()
                    .await
                    .concat()
            });
            assert_eq!(String::from_utf8(streamed).unwrap(), whole, "cut at {cut}");
        }
    }

    /// The rule, position by position: where a pattern starts (the longer first), replace it
    /// and go on after it; elsewhere keep the byte.
    fn naive(body: &str) -> String {
        let mut out = String::new();
        let mut rest = body;
        while let Some(c) = rest.chars().next() {
            match PAIRS.iter().find(|(from, _)| rest.starts_with(from)) {
                Some((from, to)) => {
                    out.push_str(to);
                    rest = &rest[from.len()..];
                }
                None => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        out
    }

    /// Bodies made of both patterns, their cut-off beginnings and text between them.
    fn body_parts() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(
            prop_oneof![
                Just("https://api.atlassian.com/ex/jira/abc".to_string()),
                Just("https://acme.atlassian.net/rest/".to_string()),
                Just("https://api.atlassian.com/ex/jira/ab".to_string()),
                Just("https://acme.atlassian.net/res".to_string()),
                Just("/rest/".to_string()),
                "[a-z\"/:.{},h]{0,12}",
            ],
            0..30,
        )
    }

    proptest! {
        /// Rewriting a whole body gives what rewriting its text gives.
        #[test]
        fn whole_bodies_rewrite_like_text(parts in body_parts()) {
            let body = parts.concat();
            let whole = rw().rewrite_str(&body);
            prop_assert_eq!(&whole, &naive(&body));
            let bytes = rw().rewrite_bytes(Bytes::from(body.into_bytes()));
            prop_assert_eq!(String::from_utf8(bytes.to_vec()).unwrap(), whole);
        }

        /// Streaming in arbitrary chunks gives exactly what rewriting the whole body gives.
        #[test]
        fn chunking_never_changes_the_result(
            parts in body_parts(),
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
