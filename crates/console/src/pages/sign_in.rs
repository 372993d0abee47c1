//! Sign in with an API key; sign out.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiragate_engine::EngineError;
use minijinja::context;
use rand::RngCore;
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::Console;
use crate::render::{error_page, html};
use crate::session::{cookie_value, session_cookie_name, set_cookie, sign_in_cookie_name};

#[derive(Deserialize)]
pub(crate) struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    api_key: String,
    next: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SignOutForm {}

/// Only paths inside the console are followed after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/console".to_owned(),
    }
}

fn render_form(
    st: &Console,
    status: StatusCode,
    next: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let mut raw = [0u8; 24];
    rand::rng().fill_bytes(&mut raw);
    let nonce = hex::encode(raw);
    let mut resp = html(
        st,
        status,
        "sign_in.html",
        context! { csrf => nonce.clone(), next => next, error => error, notice => notice },
    );
    if let Ok(v) = HeaderValue::from_str(&set_cookie(
        sign_in_cookie_name(st.secure),
        &nonce,
        st.secure,
        1800,
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

pub(crate) async fn form(
    State(st): State<Console>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    if let Some(token) = cookie_value(&headers, session_cookie_name(st.secure))
        && st.engine.console_session(&token).await.is_ok()
    {
        return super::see_other(&safe_next(q.next.as_deref()));
    }
    let notice = q.signed_out.as_ref().map(|_| "You are signed out.");
    render_form(
        &st,
        StatusCode::OK,
        &safe_next(q.next.as_deref()),
        None,
        notice,
    )
}

pub(crate) async fn submit(State(st): State<Console>, Form(f): Form<SignInForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    match st.engine.console_sign_in(&f.api_key).await {
        Ok(signed) => {
            let ttl = jiragate_engine::console::CONSOLE_SESSION_TTL.whole_seconds();
            let mut resp = super::see_other(&next);
            let h = resp.headers_mut();
            for v in [
                set_cookie(
                    session_cookie_name(st.secure),
                    signed.token.expose_secret(),
                    st.secure,
                    ttl,
                ),
                set_cookie(sign_in_cookie_name(st.secure), "", st.secure, 0),
            ] {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    h.append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Err(EngineError::Unauthorized) => render_form(
            &st,
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That API key is not valid, or it was revoked. Keys start with jg_."),
            None,
        ),
        Err(e) => error_page(&st, None, &e),
    }
}

pub(crate) async fn sign_out(
    State(st): State<Console>,
    headers: HeaderMap,
    Form(_): Form<SignOutForm>,
) -> Response {
    if let Some(token) = cookie_value(&headers, session_cookie_name(st.secure))
        && let Err(e) = st.engine.console_sign_out(&token).await
    {
        return error_page(&st, None, &e);
    }
    let mut resp = super::see_other("/console/sign-in?signed_out=1");
    if let Ok(v) = HeaderValue::from_str(&set_cookie(
        session_cookie_name(st.secure),
        "",
        st.secure,
        0,
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp.into_response()
}
