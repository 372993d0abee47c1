//! Where a credential may go. Every upstream URL jiragate builds comes from
//! [`UpstreamBase::url_for`]: a connection's base (admitted by [`UpstreamPolicy`]) plus a path
//! checked segment by segment, and the built URL is compared against the base before anything
//! is sent. Untrusted input
//! (proxy paths, catalog path parameters, subdomains, site URLs) never chooses a host.

use std::net::IpAddr;

use percent_encoding::percent_decode_str;
use url::Url;

use crate::text::{is_forbidden_char, quote};

/// Why an upstream URL or base was refused. `field` names the input at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct UpstreamError {
    pub field: &'static str,
    pub message: String,
}

impl UpstreamError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        UpstreamError {
            field,
            message: message.into(),
        }
    }
}

/// Longest path (bytes) jiragate sends upstream; Jira's own paths are far shorter.
pub const MAX_PATH_LEN: usize = 4096;
/// Longest query string (bytes); long JQL belongs in a POST body.
pub const MAX_QUERY_LEN: usize = 32 * 1024;
/// Checks the path-and-query of a request relative to a connection's base. The path must be
/// absolute, ASCII, percent-encoded, and every segment must decode (once, as UTF-8) to
/// something that cannot move the request: no `.`/`..`, no `/` or `\`, no `;` parameters, no
/// `@`, no control characters and nothing still percent-encoded (double encoding).
pub fn check_path_and_query(path_and_query: &str) -> Result<(), UpstreamError> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    if path.len() > MAX_PATH_LEN {
        return Err(UpstreamError::new(
            "path",
            format!(
                "is {} bytes long; Jira paths are at most {MAX_PATH_LEN}",
                path.len()
            ),
        ));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(UpstreamError::new(
            "path",
            format!("{} must start with `/`", quote(path)),
        ));
    };
    if let Some(c) = path
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '\\' | '#' | '"' | '<' | '>' | '`'))
    {
        return Err(UpstreamError::new(
            "path",
            format!(
                "{} contains {c:?}; send only percent-encoded Jira REST paths",
                quote(path)
            ),
        ));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        if seg.is_empty() {
            // `…/issue/` is fine; `//host` and `a//b` are not.
            if i == last {
                continue;
            }
            return Err(UpstreamError::new(
                "path",
                format!("{} has an empty segment (`//`)", quote(path)),
            ));
        }
        check_segment(path, seg)?;
    }
    if let Some(q) = query {
        if q.len() > MAX_QUERY_LEN {
            return Err(UpstreamError::new(
                "query",
                format!(
                    "is {} bytes long; at most {MAX_QUERY_LEN} (send long JQL in a POST body)",
                    q.len()
                ),
            ));
        }
        if let Some(c) = q.chars().find(|c| !c.is_ascii_graphic() || *c == '#') {
            return Err(UpstreamError::new(
                "query",
                format!("contains {c:?}; percent-encode query values"),
            ));
        }
    }
    Ok(())
}

fn check_segment(path: &str, seg: &str) -> Result<(), UpstreamError> {
    let refuse = |why: &str| {
        Err(UpstreamError::new(
            "path",
            format!("{} is refused: {why}", quote(path)),
        ))
    };
    if seg.contains(';') {
        return refuse("`;` path parameters are not sent upstream");
    }
    if seg.contains('@') {
        return refuse("`@` is not allowed in a path");
    }
    let Ok(decoded) = percent_decode_str(seg).decode_utf8() else {
        return refuse("a segment does not decode to UTF-8 (overlong or broken encoding)");
    };
    if decoded == "." || decoded == ".." {
        return refuse("`.` and `..` segments (also encoded) are not allowed");
    }
    if decoded.contains('/') || decoded.contains('\\') {
        return refuse("an encoded `/` or `\\` inside a segment is not allowed");
    }
    if decoded.chars().any(is_forbidden_char) {
        return refuse("control or bidi characters are not allowed");
    }
    if decoded.contains(';') || decoded.contains('@') || decoded.contains('?') {
        return refuse("an encoded `;`, `@` or `?` inside a segment is not allowed");
    }
    let b = decoded.as_bytes();
    if b.windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
    {
        return refuse("double percent-encoding is not allowed");
    }
    Ok(())
}

/// The one function that builds an upstream URL: `base` (a connection's site URL or
/// `<gateway>/ex/jira/{cloudId}`, no trailing `/`) plus a checked path-and-query. After
/// building, the URL's scheme, host, port and path prefix must equal the base's, or nothing is
/// sent.
pub fn upstream_url(base: &str, path_and_query: &str) -> Result<Url, UpstreamError> {
    UpstreamBase::parse(base)?.url_for(path_and_query)
}

/// A connection's base URL, parsed and checked once: an `http(s)` URL without credentials,
/// query or fragment. [`UpstreamBase::url_for`] is where every upstream URL is built; the
/// client keeps admitted bases so a call does not parse its base again.
#[derive(Debug, Clone)]
pub struct UpstreamBase {
    url: Url,
}

impl UpstreamBase {
    pub fn parse(base: &str) -> Result<Self, UpstreamError> {
        let base = base.trim_end_matches('/');
        let url = Url::parse(base)
            .map_err(|_| UpstreamError::new("base_url", format!("{} is not a URL", quote(base))))?;
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
            || !matches!(url.scheme(), "http" | "https")
        {
            return Err(UpstreamError::new(
                "base_url",
                format!(
                    "{} must be an http(s) URL without credentials, query or fragment",
                    quote(base)
                ),
            ));
        }
        Ok(UpstreamBase { url })
    }

    /// This base plus a checked path-and-query; refused unless the built URL's scheme, host,
    /// port and path prefix are the base's.
    pub fn url_for(&self, path_and_query: &str) -> Result<Url, UpstreamError> {
        let pq = if path_and_query.starts_with('/') {
            std::borrow::Cow::Borrowed(path_and_query)
        } else {
            std::borrow::Cow::Owned(format!("/{path_and_query}"))
        };
        check_path_and_query(&pq)?;
        let base_url = &self.url;
        let base_path = base_url.path().trim_end_matches('/');
        // The base's scheme and host stay as parsed once; only the path and query are set, by
        // the rules `Url::parse` applies to them (test `url_for_equals_parsing_the_joined_text`),
        // so a call does not parse a host again.
        let (path, query) = match pq.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (pq.as_ref(), None),
        };
        let mut url = base_url.clone();
        let mut full_path = String::with_capacity(base_path.len() + path.len());
        full_path.push_str(base_path);
        full_path.push_str(path);
        url.set_path(&full_path);
        url.set_query(query);
        let inside = url.scheme() == base_url.scheme()
            && url.host() == base_url.host()
            && url.port_or_known_default() == base_url.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none()
            && url.fragment().is_none()
            && url
                .path()
                .strip_prefix(base_path)
                .is_some_and(|after| after.starts_with('/'));
        if !inside {
            return Err(UpstreamError::new(
                "path",
                format!("{} would leave the connection's site", quote(&pq)),
            ));
        }
        Ok(url)
    }
}

/// Which hosts jiragate sends credentials to: Jira Cloud sites (`https://<name>.atlassian.net`
/// or the configured site template), the configured API gateway (`…/ex/jira/{cloudId}`), and
/// hosts the operator allowed explicitly (custom domains). Plain `http://` only on loopback,
/// and only when the configured templates already point there (tests, sandbox).
#[derive(Debug, Clone)]
pub struct UpstreamPolicy {
    /// Template split around `{subdomain}`, lowercased, no trailing `/`.
    template_prefix: String,
    template_suffix: String,
    template_is_loopback_http: bool,
    gateway: String,
    allowed_hosts: Vec<String>,
}

impl UpstreamPolicy {
    /// `site_url_template` contains `{subdomain}`; `api_url` is the gateway base;
    /// `allowed_hosts` are `host` or `host:port` entries (custom domains).
    pub fn new(
        site_url_template: &str,
        api_url: &str,
        allowed_hosts: &[String],
    ) -> Result<Self, UpstreamError> {
        let t = site_url_template
            .trim()
            .trim_end_matches('/')
            .to_lowercase();
        let Some((prefix, suffix)) = t.split_once("{subdomain}") else {
            return Err(UpstreamError::new(
                "site_url_template",
                format!("{} must contain {{subdomain}}", quote(&t)),
            ));
        };
        let probe = Url::parse(&t.replace("{subdomain}", "probe")).map_err(|_| {
            UpstreamError::new("site_url_template", format!("{} is not a URL", quote(&t)))
        })?;
        let template_is_loopback_http = probe.scheme() == "http" && is_loopback(&probe);
        if probe.scheme() == "http" && !template_is_loopback_http {
            return Err(UpstreamError::new(
                "site_url_template",
                "plain http is only allowed for loopback hosts",
            ));
        }
        let gateway = api_url.trim().trim_end_matches('/').to_owned();
        let g = Url::parse(&gateway).map_err(|_| {
            UpstreamError::new("api_url", format!("{} is not a URL", quote(&gateway)))
        })?;
        if g.scheme() == "http" && !is_loopback(&g) {
            return Err(UpstreamError::new(
                "api_url",
                "plain http is only allowed for loopback hosts",
            ));
        }
        let mut hosts = Vec::new();
        for h in allowed_hosts {
            let h = h.trim().trim_end_matches('/').to_ascii_lowercase();
            if h.is_empty() {
                continue;
            }
            if h.contains('/') || h.contains('@') || h.chars().any(is_forbidden_char) {
                return Err(UpstreamError::new(
                    "JIRAGATE_ALLOWED_UPSTREAM_HOSTS",
                    format!("{} must be a host name or host:port", quote(&h)),
                ));
            }
            hosts.push(h);
        }
        Ok(UpstreamPolicy {
            template_prefix: prefix.to_owned(),
            template_suffix: suffix.to_owned(),
            template_is_loopback_http,
            gateway,
            allowed_hosts: hosts,
        })
    }

    /// Atlassian Cloud with no extra hosts.
    pub fn atlassian_cloud() -> Self {
        UpstreamPolicy {
            template_prefix: "https://".into(),
            template_suffix: ".atlassian.net".into(),
            template_is_loopback_http: false,
            gateway: "https://api.atlassian.com".into(),
            allowed_hosts: Vec::new(),
        }
    }

    /// `acme`, `ACME`, `acme.atlassian.net`, `https://acme.atlassian.net/` → `acme`. A site
    /// name is 1–63 lowercase letters, digits and inner hyphens; anything else is refused.
    pub fn subdomain(&self, input: &str) -> Result<String, UpstreamError> {
        let s = input.trim();
        let s = s.trim_end_matches('/');
        let lower = s.to_ascii_lowercase();
        let s = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .unwrap_or(&lower);
        let s = s.strip_suffix(".atlassian.net").unwrap_or(s);
        if !is_site_name(s) {
            return Err(UpstreamError::new(
                "subdomain",
                format!(
                    "{} is not a Jira site name: use the part before .atlassian.net (lowercase letters, digits and hyphens), or give the full site URL",
                    quote(input)
                ),
            ));
        }
        Ok(s.to_owned())
    }

    /// The base URL of a site named by subdomain (validated).
    pub fn site_base(&self, subdomain: &str) -> Result<String, UpstreamError> {
        let name = self.subdomain(subdomain)?;
        Ok(format!(
            "{}{name}{}",
            self.template_prefix, self.template_suffix
        ))
    }

    /// Normalises a site URL and admits it, or says why not.
    pub fn check_site_url(&self, input: &str) -> Result<String, UpstreamError> {
        let field = "base_url";
        let trimmed = input.trim().trim_end_matches('/');
        let refuse = |why: String| Err(UpstreamError::new(field, why));
        let Ok(url) = Url::parse(trimmed) else {
            return refuse(format!("{} is not a URL", quote(input)));
        };
        if !url.username().is_empty() || url.password().is_some() {
            // Never echo userinfo back: it may hold a password.
            return refuse(
                "a site URL must not carry credentials (`user:password@`); give the token separately"
                    .to_owned(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() || trimmed.contains('\\') {
            return refuse(format!(
                "{} must be a plain site URL (no query or fragment)",
                quote(input)
            ));
        }
        let serialized = url.as_str().trim_end_matches('/');
        // What the parser normalised away (`..`, `.`, encodings, default ports) is refused, not
        // silently followed: the URL must already be what it names.
        if !serialized.eq_ignore_ascii_case(trimmed) {
            return refuse(format!(
                "{} is not a plain site URL; write it as {}",
                quote(input),
                quote(serialized)
            ));
        }
        // The configured template (Atlassian Cloud, or the simulator's `…/site/{subdomain}`).
        if let Some(mid) = serialized
            .strip_prefix(self.template_prefix.as_str())
            .and_then(|r| r.strip_suffix(self.template_suffix.as_str()))
            && is_site_name(mid)
        {
            return Ok(serialized.to_owned());
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let path_is_root = url.path() == "/" || url.path().is_empty();
        // Any Jira Cloud site.
        if url.scheme() == "https"
            && url.port().is_none()
            && path_is_root
            && host
                .strip_suffix(".atlassian.net")
                .is_some_and(is_site_name)
        {
            return Ok(format!("https://{host}"));
        }
        // Custom domains the operator allowed.
        let host_port = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        if self
            .allowed_hosts
            .iter()
            .any(|h| *h == host_port || *h == host)
            && path_is_root
        {
            let scheme_ok = url.scheme() == "https"
                || (url.scheme() == "http" && self.template_is_loopback_http && is_loopback(&url));
            if scheme_ok {
                return Ok(serialized.to_owned());
            }
            return refuse(format!(
                "{} must use https (plain http only for loopback test setups)",
                quote(input)
            ));
        }
        refuse(format!(
            "{} is not a Jira Cloud site: sites are https://<name>.atlassian.net; an operator can allow a custom domain with JIRAGATE_ALLOWED_UPSTREAM_HOSTS",
            quote(input)
        ))
    }

    /// `<gateway>/ex/jira/{cloudId}` for a validated cloud id.
    pub fn gateway_base(&self, cloud_id: &str) -> Result<String, UpstreamError> {
        let id = cloud_id.trim();
        if id.is_empty()
            || id.len() > 64
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(UpstreamError::new(
                "cloud_id",
                format!("{} is not an Atlassian cloud id", quote(cloud_id)),
            ));
        }
        Ok(format!("{}/ex/jira/{id}", self.gateway))
    }

    /// Admits a connection's base: a site URL this policy accepts, or the gateway with a
    /// valid cloud id.
    pub fn admit_base(&self, base: &str) -> Result<(), UpstreamError> {
        let base = base.trim_end_matches('/');
        if let Some(id) = base
            .strip_prefix(self.gateway.as_str())
            .and_then(|r| r.strip_prefix("/ex/jira/"))
        {
            return self.gateway_base(id).map(|_| ());
        }
        match self.check_site_url(base) {
            Ok(normal) if normal == base => Ok(()),
            Ok(_) => Err(UpstreamError::new(
                "base_url",
                format!("{} is not in its normal form", quote(base)),
            )),
            Err(e) => Err(e),
        }
    }
}

fn is_site_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests;
