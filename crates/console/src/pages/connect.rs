//! The embeddable connect flow's pages: `/connect/<token>` (opened once), the page that lets
//! the end user connect (API token or Connect with Atlassian), and the finishing page that
//! returns to the app (redirect) or tells the opener (popup). No jiragate API key is on any of
//! them: the browser holds only a page secret for this one link, in a cookie scoped to
//! `/connect`.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use jiragate_engine::EngineError;
use jiragate_engine::connect_links::{LinkRefusal, origin_of};
use jiragate_engine::model::{ConnectLink, ConnectLinkId, SiteRef};
use minijinja::context;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Fields, see_other};
use crate::Console;
use crate::render::{html, message_page};
use crate::session::cookie_value;

/// The cookie that carries `<link id>.<page secret>`.
pub(crate) const CONNECT_COOKIE: &str = "jiragate_connect";

/// The CSRF token of a connect page, derived from its page secret.
pub(crate) fn connect_csrf(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"jiragate connect csrf v1\0");
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// The page secret of link `id` from the request's cookie.
pub(crate) fn page_secret(headers: &HeaderMap, id: &str) -> Option<String> {
    let value = cookie_value(headers, CONNECT_COOKIE)?;
    let (link, secret) = value.split_once('.')?;
    (link == id).then(|| secret.to_owned())
}

#[derive(Deserialize)]
pub(crate) struct OpenQuery {
    mode: Option<String>,
}

pub(crate) async fn open(
    State(st): State<Console>,
    Path(token): Path<String>,
    Query(q): Query<OpenQuery>,
) -> Response {
    let popup = q.mode.as_deref() == Some("popup");
    match st.engine.open_connect_link(&token, popup).await {
        Ok((link, secret)) => {
            // Lax: the page is reached by a top-level navigation from the app's site.
            let mut c = Cookie::new(
                CONNECT_COOKIE,
                format!("{}.{}", link.id, secret.expose_secret()),
            );
            c.set_http_only(true);
            c.set_same_site(SameSite::Lax);
            c.set_path("/connect");
            c.set_secure(st.secure);
            c.set_max_age(time::Duration::minutes(30));
            // The token leaves the address bar (and history) at once.
            let mut resp = see_other(&format!("/connect/s/{}", link.id));
            if let Ok(v) = HeaderValue::from_str(&c.encoded().to_string()) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(LinkRefusal::AlreadyUsed) => message_page(
            &st,
            StatusCode::GONE,
            "This link was already used",
            "A connect link works once. Go back to the app and start connecting Jira again.",
        ),
        Err(LinkRefusal::Expired) => message_page(
            &st,
            StatusCode::GONE,
            "This link has expired",
            "Go back to the app and start connecting Jira again.",
        ),
        Err(LinkRefusal::Unknown) => message_page(
            &st,
            StatusCode::NOT_FOUND,
            "Unknown link",
            "This connect link does not exist. Go back to the app and start again.",
        ),
    }
}

async fn link_for(
    st: &Console,
    headers: &HeaderMap,
    id: &str,
) -> Result<(ConnectLink, String), Response> {
    let refused = || {
        message_page(
            st,
            StatusCode::FORBIDDEN,
            "This page cannot continue",
            "The connect page was opened in another browser, has expired, or is finished. Go back to the app and start again.",
        )
    };
    let Ok(link_id) = id.parse::<ConnectLinkId>() else {
        return Err(refused());
    };
    let Some(secret) = page_secret(headers, id) else {
        return Err(refused());
    };
    match st.engine.connect_link_for_page(&link_id, &secret).await {
        Ok(link) => Ok((link, secret)),
        Err(_) => Err(refused()),
    }
}

fn render_page(
    st: &Console,
    link: &ConnectLink,
    secret: &str,
    status: StatusCode,
    form: &Fields,
    error: Option<String>,
) -> Response {
    html(
        st,
        status,
        "connect.html",
        context! {
            id => link.id.to_string(),
            app_name => link.app_name.clone(),
            workspace => link.workspace.clone(),
            name => link.name.clone(),
            allowed => link.allowed_auth.clone(),
            csrf => connect_csrf(secret),
            site => form.get("site"),
            email => form.get("email"),
            error => error,
            expires_at => super::connections::fmt_time(link.expires_at),
        },
    )
}

pub(crate) async fn page(
    State(st): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match link_for(&st, &headers, &id).await {
        Ok((link, secret)) => render_page(
            &st,
            &link,
            &secret,
            StatusCode::OK,
            &Fields::default(),
            None,
        ),
        Err(r) => r,
    }
}

fn status_of(e: &EngineError) -> StatusCode {
    StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
}

pub(crate) async fn api_token(
    State(st): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let (link, secret) = match link_for(&st, &headers, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let site = match f.get("site") {
        Some(s) if s.contains("://") => SiteRef::BaseUrl(s.to_owned()),
        Some(s) => SiteRef::Subdomain(s.to_owned()),
        None => {
            let e = EngineError::validation("site", "name your Jira site");
            return render_page(&st, &link, &secret, status_of(&e), &f, Some(e.to_string()));
        }
    };
    let (Some(email), Some(token)) = (f.get("email"), f.raw("token")) else {
        let e = EngineError::validation("token", "enter the account email and the API token");
        return render_page(&st, &link, &secret, status_of(&e), &f, Some(e.to_string()));
    };
    match st
        .engine
        .connect_link_api_token(
            &link,
            site,
            email.to_owned(),
            SecretString::from(token.trim().to_owned()),
            f.get("scoped") == Some("on"),
        )
        .await
    {
        Ok(_) => see_other(&format!("/connect/s/{}/done", link.id)),
        Err(e) => render_page(&st, &link, &secret, status_of(&e), &f, Some(e.to_string())),
    }
}

pub(crate) async fn oauth(
    State(st): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let (link, secret) = match link_for(&st, &headers, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match st
        .engine
        .connect_link_oauth(&link, f.get("site").map(str::to_owned))
        .await
    {
        Ok(authorize_url) => see_other(&authorize_url),
        Err(e) => render_page(&st, &link, &secret, status_of(&e), &f, Some(e.to_string())),
    }
}

/// The finishing page. It reveals only what the app receives anyway (the connection id), and
/// works without the page cookie: after Atlassian's redirect the browser may not send it.
pub(crate) async fn done(State(st): State<Console>, Path(id): Path<String>) -> Response {
    let link = match id.parse::<ConnectLinkId>() {
        Ok(link_id) => st.engine.connect_link(&link_id).await.ok(),
        Err(_) => None,
    };
    let Some(link) = link.filter(|l| l.completed_at.is_some()) else {
        return message_page(
            &st,
            StatusCode::NOT_FOUND,
            "Nothing to finish",
            "This connect link is unknown or not finished yet.",
        );
    };
    let Some(conn) = link.connection_id.clone() else {
        return message_page(
            &st,
            StatusCode::NOT_FOUND,
            "Nothing to finish",
            "This connect link has no connection.",
        );
    };
    let Ok(mut back) = url::Url::parse(&link.return_url) else {
        return message_page(
            &st,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot return",
            "The app's return URL is not valid.",
        );
    };
    back.query_pairs_mut()
        .append_pair("connection_id", conn.as_ref())
        .append_pair("status", "connected");
    if link.mode.as_deref() != Some("popup") {
        return see_other(back.as_str());
    }
    let origin = origin_of(&link.return_url).unwrap_or_default();
    html(
        &st,
        StatusCode::OK,
        "connect_done.html",
        context! {
            origin => origin,
            connection_id => conn.to_string(),
            return_url => back.to_string(),
            app_name => link.app_name.clone(),
        },
    )
}

/// `/connect.js` and the finishing page's script.
pub(crate) async fn script(Path(file): Path<String>) -> Response {
    let body = match file.as_str() {
        "connect.js" => include_str!("../../assets/connect.js"),
        "connect-done.js" => include_str!("../../assets/connect-done.js"),
        _ => return (StatusCode::NOT_FOUND, "no such script").into_response(),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    // Apps load /connect.js from their own pages.
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    resp
}

pub(crate) async fn connect_js() -> Response {
    script(Path("connect.js".to_owned())).await
}
