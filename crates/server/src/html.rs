//! The small self-contained HTML pages of the OAuth callback. No scripts, no external assets;
//! every interpolated value is escaped.

use crate::views::SiteView;

/// Escape text for HTML element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` with a
/// form POST, and the site choice form must name this server's origin.
fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin"><title>{title} · jiragate</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#172b4d}}
h1{{font-size:1.4rem}} .ok{{color:#216e4e}} .bad{{color:#ae2e24}} code{{background:#f1f2f4;padding:0 .25rem}}
label{{display:block;padding:.6rem;border:1px solid #dcdfe4;border-radius:6px;margin:.4rem 0;cursor:pointer}}
button{{margin-top:1rem;padding:.5rem 1.2rem;border:0;border-radius:4px;background:#0c66e4;color:#fff;font-size:1rem;cursor:pointer}}
</style></head><body>
{body}
</body></html>"#,
        title = escape(title),
        body = body
    )
}

pub fn connected_page(name: &str, site_url: &str, connector_id: &str) -> String {
    page(
        "Connected",
        &format!(
            r#"<h1 class="ok">Jira connected</h1>
<p>The connection <strong>{}</strong> to <code>{}</code> is ready (id <code>{}</code>).</p>
<p><a id="open-in-console" href="/console/connections/{}">Open it in the console</a>, or close this window.</p>"#,
            escape(name),
            escape(site_url),
            escape(connector_id),
            escape(connector_id)
        ),
    )
}

pub fn failure_page(message: &str) -> String {
    page(
        "Connection failed",
        &format!(
            r#"<h1 class="bad">The Jira connection was not made</h1>
<p>{}</p>
<p>You can close this window and start again from the application.</p>"#,
            escape(message)
        ),
    )
}

pub fn choose_site_page(ticket: &str, sites: &[SiteView]) -> String {
    let mut options = String::new();
    for (i, s) in sites.iter().enumerate() {
        options.push_str(&format!(
            r#"<label><input type="radio" name="cloud_id" value="{}"{}> <strong>{}</strong> <code>{}</code></label>
"#,
            escape(&s.cloud_id),
            if i == 0 { " required" } else { "" },
            escape(&s.name),
            escape(&s.url)
        ));
    }
    page(
        "Choose a Jira site",
        &format!(
            r#"<h1>Choose the Jira site to connect</h1>
<p>Your authorization covers several Jira sites. Pick the one this connection is for.</p>
<form method="post" action="/oauth/callback/site">
<input type="hidden" name="ticket" value="{}">
{}<button type="submit">Connect</button>
</form>"#,
            escape(ticket),
            options
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let p = choose_site_page(
            "t\"><script>",
            &[SiteView {
                cloud_id: "c1".into(),
                name: "<b>acme</b>".into(),
                url: "http://x/?a=1&b=2".into(),
            }],
        );
        assert!(!p.contains("<script>"));
        assert!(p.contains("&lt;b&gt;acme&lt;/b&gt;"));
        assert!(p.contains("a=1&amp;b=2"));
    }
}
