//! Which Jira site a grant or a token is for. Atlassian returns the sites of a grant in no
//! particular order, so the first entry is never taken on trust.

use serde::{Deserialize, Serialize};

use jiragate_jira::{UpstreamError, UpstreamPolicy};

use crate::oauth::AccessibleResource;

/// How a user names a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteRef {
    /// `acme` (or `acme.atlassian.net`), expanded with the site URL template.
    Subdomain(String),
    /// A full base URL such as `https://acme.atlassian.net`.
    BaseUrl(String),
}

impl SiteRef {
    /// The site's base URL (no trailing '/'), admitted by the upstream policy: a valid site
    /// name, or a Jira Cloud (or operator-allowed) site URL. Anything else is refused here,
    /// before a request is made.
    pub fn base_url(&self, policy: &UpstreamPolicy) -> Result<String, UpstreamError> {
        match self {
            SiteRef::Subdomain(s) => policy.site_base(s),
            SiteRef::BaseUrl(u) => policy.check_site_url(u),
        }
    }

    /// The subdomain, when it can be known from the reference.
    pub fn subdomain(&self, site_url_template: &str) -> Option<String> {
        match self {
            SiteRef::Subdomain(s) => Some(normalize_subdomain(s)),
            SiteRef::BaseUrl(u) => subdomain_of_url(u, site_url_template),
        }
    }
}

/// One site offered to the user when a grant covers several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteChoice {
    pub cloud_id: String,
    pub name: String,
    pub url: String,
}

impl From<&AccessibleResource> for SiteChoice {
    fn from(r: &AccessibleResource) -> Self {
        SiteChoice {
            cloud_id: r.id.clone(),
            name: r.name.clone(),
            url: r.url.trim_end_matches('/').to_owned(),
        }
    }
}

/// The outcome of [`decide_site`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteDecision {
    Chosen(AccessibleResource),
    /// Several sites and none requested: ask (sorted by name for a stable list).
    AskUser(Vec<SiteChoice>),
    /// A subdomain was requested and the grant does not cover it.
    NotFound {
        requested: String,
        available: Vec<String>,
    },
    /// The grant covers no site at all.
    NoSites,
}

/// `acme`, `acme.atlassian.net`, `https://acme.atlassian.net/` → `acme`.
pub fn normalize_subdomain(s: &str) -> String {
    let s = s.trim().trim_end_matches('/');
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let s = s.strip_suffix(".atlassian.net").unwrap_or(s);
    s.to_ascii_lowercase()
}

/// The subdomain of a site URL, read through the template (`https://{subdomain}.atlassian.net`
/// or the simulator's `http://127.0.0.1:P/site/{subdomain}`); falls back to the first DNS
/// label of an `*.atlassian.net` host.
pub fn subdomain_of_url(url: &str, site_url_template: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    if let Some((prefix, suffix)) = site_url_template
        .trim_end_matches('/')
        .split_once("{subdomain}")
        && let Some(rest) = url.strip_prefix(prefix)
        && let Some(sub) = rest.strip_suffix(suffix)
        && !sub.is_empty()
        && !sub.contains('/')
    {
        return Some(sub.to_ascii_lowercase());
    }
    let host = url::Url::parse(url).ok()?.host_str()?.to_owned();
    host.strip_suffix(".atlassian.net")
        .filter(|s| !s.contains('.'))
        .map(str::to_ascii_lowercase)
}

/// Picks the site: the requested one; with none requested and exactly one site, that one;
/// otherwise the user must choose.
pub fn decide_site(
    resources: &[AccessibleResource],
    requested: Option<&str>,
    site_url_template: &str,
) -> SiteDecision {
    if let Some(req) = requested.map(normalize_subdomain).filter(|s| !s.is_empty()) {
        let wanted_url = jiragate_jira::urls::site_base(site_url_template, &req);
        let found = resources.iter().find(|r| {
            let url = r.url.trim_end_matches('/');
            url.eq_ignore_ascii_case(&wanted_url)
                || subdomain_of_url(url, site_url_template).as_deref() == Some(req.as_str())
        });
        return match found {
            Some(r) => SiteDecision::Chosen(r.clone()),
            None => SiteDecision::NotFound {
                requested: req,
                available: sorted_choices(resources)
                    .into_iter()
                    .map(|c| {
                        subdomain_of_url(&c.url, site_url_template)
                            .map(|s| format!("{s} ({})", c.url))
                            .unwrap_or(c.url)
                    })
                    .collect(),
            },
        };
    }
    match resources {
        [] => SiteDecision::NoSites,
        [only] => SiteDecision::Chosen(only.clone()),
        several => SiteDecision::AskUser(sorted_choices(several)),
    }
}

fn sorted_choices(resources: &[AccessibleResource]) -> Vec<SiteChoice> {
    let mut out: Vec<SiteChoice> = resources.iter().map(SiteChoice::from).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.url.cmp(&b.url)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIM: &str = "http://127.0.0.1:9/site/{subdomain}";
    const CLOUD: &str = "https://{subdomain}.atlassian.net";

    fn res(id: &str, sub: &str, template: &str) -> AccessibleResource {
        AccessibleResource {
            id: id.into(),
            url: template.replace("{subdomain}", sub),
            name: sub.into(),
            scopes: vec![],
        }
    }

    #[test]
    fn requested_subdomain_wins_regardless_of_order() {
        for template in [SIM, CLOUD] {
            let rs = vec![res("1", "globex", template), res("2", "acme", template)];
            match decide_site(&rs, Some("acme"), template) {
                SiteDecision::Chosen(r) => assert_eq!(r.id, "2"),
                other => panic!("{other:?}"),
            }
            match decide_site(&rs, Some("ACME.atlassian.net"), template) {
                SiteDecision::Chosen(r) => assert_eq!(r.id, "2"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn several_sites_without_request_ask_the_user() {
        let rs = vec![res("1", "globex", SIM), res("2", "acme", SIM)];
        match decide_site(&rs, None, SIM) {
            SiteDecision::AskUser(choices) => {
                assert_eq!(choices.len(), 2);
                assert_eq!(choices[0].name, "acme");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_site_without_request_is_taken() {
        let rs = vec![res("1", "globex", SIM)];
        assert!(matches!(decide_site(&rs, None, SIM), SiteDecision::Chosen(r) if r.id == "1"));
        assert_eq!(decide_site(&[], None, SIM), SiteDecision::NoSites);
    }

    #[test]
    fn wrong_subdomain_lists_what_is_available() {
        let rs = vec![res("1", "globex", SIM), res("2", "acme", SIM)];
        match decide_site(&rs, Some("initech"), SIM) {
            SiteDecision::NotFound {
                requested,
                available,
            } => {
                assert_eq!(requested, "initech");
                assert_eq!(available.len(), 2);
                assert!(available[0].starts_with("acme"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn subdomains_are_read_back_from_urls() {
        assert_eq!(
            subdomain_of_url("http://127.0.0.1:9/site/acme/", SIM).as_deref(),
            Some("acme")
        );
        assert_eq!(
            subdomain_of_url("https://acme.atlassian.net", SIM).as_deref(),
            Some("acme")
        );
        assert_eq!(subdomain_of_url("https://example.com", CLOUD), None);
        assert_eq!(
            SiteRef::BaseUrl("https://acme.atlassian.net/".into())
                .base_url(&UpstreamPolicy::atlassian_cloud())
                .unwrap(),
            "https://acme.atlassian.net"
        );
    }
}
