//! Base URLs of Jira sites and of the API gateway.

/// A site's base URL from a template such as `https://{subdomain}.atlassian.net`
/// (or the simulator's `http://127.0.0.1:P/site/{subdomain}`). No trailing '/'.
///
/// A subdomain given as a full host (`acme.atlassian.net`) is reduced to its first label,
/// so people can paste either form.
pub fn site_base(site_template: &str, subdomain: &str) -> String {
    let sub = subdomain.trim().trim_end_matches('/');
    let sub = sub
        .strip_prefix("https://")
        .or_else(|| sub.strip_prefix("http://"))
        .unwrap_or(sub);
    let sub = match sub.strip_suffix(".atlassian.net") {
        Some(first) => first,
        None => sub,
    };
    site_template
        .replace("{subdomain}", sub)
        .trim_end_matches('/')
        .to_owned()
}

/// The gateway base for OAuth and scoped-token calls: `<api_url>/ex/jira/{cloudId}`.
pub fn ex_jira(api_url: &str, cloud_id: &str) -> String {
    format!(
        "{}/ex/jira/{}",
        api_url.trim_end_matches('/'),
        cloud_id.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_site_urls() {
        assert_eq!(
            site_base("https://{subdomain}.atlassian.net", "acme"),
            "https://acme.atlassian.net"
        );
        assert_eq!(
            site_base("https://{subdomain}.atlassian.net/", "acme.atlassian.net"),
            "https://acme.atlassian.net"
        );
        assert_eq!(
            site_base("http://127.0.0.1:9/site/{subdomain}", "globex"),
            "http://127.0.0.1:9/site/globex"
        );
    }

    #[test]
    fn builds_gateway_urls() {
        assert_eq!(
            ex_jira("https://api.atlassian.com/", "abc-123"),
            "https://api.atlassian.com/ex/jira/abc-123"
        );
    }
}
