//! One guard for every state change: a POST must come from this console's own pages. It must
//! carry the CSRF token of the browser's session (or, for sign-in, of its sign-in cookie), and a
//! browser-sent `Origin` must be this server. The guard runs before any handler, so no page
//! can forget it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use crate::Console;
use crate::session::{cookie_value, csrf_for, session_cookie_name, sign_in_cookie_name};

/// Console forms are small; a bigger body is refused before it is read in full.
const FORM_LIMIT: usize = 256 * 1024;

pub(crate) async fn guard(State(st): State<Console>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if !origin_allowed(&st, &req) {
        return refuse(&st, "the form was sent from another site");
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, FORM_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return crate::render::message_page(
                &st,
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "The form is larger than the console accepts (256 KiB).",
            );
        }
    };
    let presented = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v)
        });
    let path = parts.uri.path();
    let expected = if let Some(rest) = path.strip_prefix("/connect/s/") {
        let id = rest.split('/').next().unwrap_or_default();
        crate::pages::connect::page_secret(&parts.headers, id)
            .map(|s| crate::pages::connect::connect_csrf(&s))
    } else if path == "/console/sign-in" {
        cookie_value(&parts.headers, sign_in_cookie_name(st.secure))
    } else {
        cookie_value(&parts.headers, session_cookie_name(st.secure)).map(|t| csrf_for(&t))
    };
    let ok = match (presented, expected) {
        (Some(p), Some(e)) => !e.is_empty() && bool::from(p.as_bytes().ct_eq(e.as_bytes())),
        _ => false,
    };
    if !ok {
        return refuse(
            &st,
            "the form's security token is missing or does not belong to this session",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A browser sends `Origin` with every POST; when present it must name this server (the
/// `Host` it was sent to, or the configured public URL).
fn origin_allowed(st: &Console, req: &Request) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if origin == st.public_url {
        return true;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    match url::Url::parse(origin) {
        Ok(u) => {
            let o_host = match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => return false,
            };
            !host.is_empty() && o_host.eq_ignore_ascii_case(host)
        }
        Err(_) => false,
    }
}

fn refuse(st: &Console, why: &str) -> Response {
    tracing::warn!(reason = why, "console refused a state change (CSRF guard)");
    crate::render::message_page(
        st,
        StatusCode::FORBIDDEN,
        "Request refused",
        &format!(
            "Nothing was changed: {why}. Reload the page and submit the form again; if you signed out, sign in first."
        ),
    )
}
