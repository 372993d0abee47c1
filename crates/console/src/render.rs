//! Templates compiled into the binary, the page helpers, and the console's static assets.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use jiragate_engine::EngineError;
use minijinja::{Environment, Value, context};

use crate::Console;
use crate::session::SignedIn;

/// Every template, by name (`.html` names auto-escape).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    (
        "_scope_picker.html",
        include_str!("../templates/_scope_picker.html"),
    ),
    ("message.html", include_str!("../templates/message.html")),
    ("sign_in.html", include_str!("../templates/sign_in.html")),
    (
        "connections.html",
        include_str!("../templates/connections.html"),
    ),
    (
        "connection_new.html",
        include_str!("../templates/connection_new.html"),
    ),
    (
        "connection.html",
        include_str!("../templates/connection.html"),
    ),
    ("keys.html", include_str!("../templates/keys.html")),
    (
        "oauth_clients.html",
        include_str!("../templates/oauth_clients.html"),
    ),
    (
        "oauth_client.html",
        include_str!("../templates/oauth_client.html"),
    ),
    ("audit.html", include_str!("../templates/audit.html")),
    ("orgs.html", include_str!("../templates/orgs.html")),
    ("webhooks.html", include_str!("../templates/webhooks.html")),
    (
        "mcp_grants.html",
        include_str!("../templates/mcp_grants.html"),
    ),
    (
        "mcp_settings.html",
        include_str!("../templates/mcp_settings.html"),
    ),
    ("connect.html", include_str!("../templates/connect.html")),
    (
        "connect_done.html",
        include_str!("../templates/connect_done.html"),
    ),
];

/// Static files: name, content type, bytes. Written here; nothing vendored.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/console.js"),
    ),
];

/// The console's templates, compiled when a page is first rendered: compiled, they hold about
/// half a MiB, which a `serve` whose console nobody opens never needs.
pub(crate) struct Templates {
    env: std::sync::OnceLock<Environment<'static>>,
}

impl Templates {
    pub fn new() -> Templates {
        Templates {
            env: std::sync::OnceLock::new(),
        }
    }

    fn env(&self) -> &Environment<'static> {
        self.env.get_or_init(|| {
            let mut env = Environment::new();
            for (name, src) in TEMPLATES {
                // The templates are part of the binary: a syntax error is a build defect, caught
                // by the unit test that renders each of them.
                if let Err(e) = env.add_template(name, src) {
                    panic!("console template {name} does not parse: {e:#}");
                }
            }
            env
        })
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env().get_template(name)?.render(ctx)
    }
}

/// Renders a page for a signed-in user: the base context (who, CSRF token, section) plus
/// the page's own.
pub(crate) fn page(
    st: &Console,
    user: &SignedIn,
    section: &str,
    template: &str,
    ctx: Value,
) -> Response {
    page_with_status(st, user, StatusCode::OK, section, template, ctx)
}

pub(crate) fn page_with_status(
    st: &Console,
    user: &SignedIn,
    status: StatusCode,
    section: &str,
    template: &str,
    ctx: Value,
) -> Response {
    let base = context! {
        user => context! {
            name => user.key.name.clone(),
            prefix => user.key.prefix.clone(),
            org => user.key.org_id.to_string(),
            platform => user.key.platform,
            scopes => user.key.scopes.clone(),
        },
        csrf => user.csrf.clone(),
        section => section,
        public_url => st.public_url.clone(),
    };
    html(st, status, template, context! { ..ctx, ..base })
}

pub(crate) fn html(st: &Console, status: StatusCode, template: &str, ctx: Value) -> Response {
    match st.templates.render(template, ctx) {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(template, error = %format!("{e:#}"), "console template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Console error</title><p>The page could not be rendered; the server log says why.</p>".to_owned()),
            )
                .into_response()
        }
    }
}

/// A page that says one thing (refusals, errors), signed in or not.
pub(crate) fn message_page(st: &Console, status: StatusCode, title: &str, text: &str) -> Response {
    html(
        st,
        status,
        "message.html",
        context! { title => title, text => text, status => status.as_u16() },
    )
}

/// An engine error as a page: its status, and its message (which never carries a secret).
pub(crate) fn error_page(st: &Console, user: Option<&SignedIn>, e: &EngineError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let ctx = context! {
        title => title_for(e),
        text => e.to_string(),
        kind => e.kind(),
        status => status.as_u16(),
    };
    match user {
        Some(u) => page_with_status(st, u, status, "", "message.html", ctx),
        None => html(st, status, "message.html", ctx),
    }
}

fn title_for(e: &EngineError) -> &'static str {
    match e.http_status() {
        400 | 422 => "Check the form",
        401 => "Sign in again",
        403 => "Not allowed",
        404 => "Not found",
        409 => "Conflict",
        429 => "Slow down",
        502..=504 => "Jira did not answer as expected",
        _ => "Something went wrong",
    }
}

pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, ctype, body)) => {
            let mut resp = (*body).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            resp
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_the_message_page_escapes() {
        let t = Templates::new();
        let out = t
            .render(
                "message.html",
                context! { title => "T", text => "<script>alert(1)</script>", status => 400 },
            )
            .unwrap();
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(!out.contains("<script>alert"), "{out}");
    }

    #[test]
    fn assets_carry_no_inline_handlers_and_pages_no_inline_script() {
        for (name, src) in TEMPLATES {
            // CSP forbids inline script: every <script> must load a file of ours.
            for (i, _) in src.match_indices("<script") {
                let tag = &src[i..src[i..].find('>').map_or(src.len(), |j| i + j)];
                assert!(
                    tag.contains("src=\"/console/assets/")
                        || tag.contains("src=\"/connect/assets/"),
                    "{name}: inline script {tag}"
                );
            }
            for attr in [
                " onclick=",
                " onload=",
                " onsubmit=",
                " style=\"",
                "javascript:",
            ] {
                assert!(
                    !src.contains(attr),
                    "{name} uses {attr}, which the CSP blocks"
                );
            }
        }
    }
}
