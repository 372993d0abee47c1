//! `GET /authorize` (auth.atlassian.com): validates the request, consents (automatically, or
//! through an HTML page with `--consent-page`) and redirects back with a code.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, header};

use crate::reply::Reply;
use crate::state::{CodeGrant, SimState, random_token};

/// Lifetime of an authorization code, in simulated seconds.
pub const CODE_TTL_SECS: i64 = 300;

struct AuthorizeRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scopes: Vec<String>,
    challenge: Option<(String, String)>,
    prompt: Option<String>,
    user: usize,
}

fn pairs(raw: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw).unwrap_or_default()
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn error_page(msg: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><title>Something went wrong</title></head><body><h1>Something went wrong</h1><p>{}</p></body></html>",
        html_escape(msg)
    );
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        body,
    )
        .into_response()
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn redirect(uri: &str, params: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    let sep = if uri.contains('?') { '&' } else { '?' };
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("{uri}{sep}{query}"))],
    )
        .into_response()
}

fn redirect_error(req_uri: &str, state: Option<&str>, error: &str, description: &str) -> Response {
    let mut p = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        p.push(("state", s));
    }
    redirect(req_uri, &p)
}

fn page_err(msg: &str) -> Box<Response> {
    Box::new(error_page(msg))
}

fn redirect_err(uri: &str, state: Option<&str>, error: &str, description: &str) -> Box<Response> {
    Box::new(redirect_error(uri, state, error, description))
}

/// Validates the query; `Err` is the response to send (error page or error redirect).
fn validate(state: &SimState, p: &[(String, String)]) -> Result<AuthorizeRequest, Box<Response>> {
    let client_id = get(p, "client_id").unwrap_or_default();
    let auth = state.auth.lock();
    let Some(client) = auth.clients.iter().find(|c| c.client_id == client_id) else {
        return Err(page_err("Invalid client_id: the app is not registered."));
    };
    let redirect_uri = get(p, "redirect_uri").unwrap_or_default();
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(page_err(
            "The redirect_uri does not match any callback URL registered for this app.",
        ));
    }
    let st = get(p, "state");
    if get(p, "response_type") != Some("code") {
        return Err(redirect_err(
            redirect_uri,
            st,
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    if get(p, "audience") != Some("api.atlassian.com") {
        return Err(redirect_err(
            redirect_uri,
            st,
            "invalid_request",
            "audience must be api.atlassian.com",
        ));
    }
    let scopes: Vec<String> = get(p, "scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err(redirect_err(
            redirect_uri,
            st,
            "invalid_scope",
            "scope is required",
        ));
    }
    if let Some(bad) = scopes.iter().find(|s| !client.allowed_scopes.contains(*s)) {
        return Err(redirect_err(
            redirect_uri,
            st,
            "invalid_scope",
            &format!("Unknown or disallowed scope: {bad}"),
        ));
    }
    let challenge = match get(p, "code_challenge") {
        None | Some("") => None,
        Some(ch) => {
            let method = get(p, "code_challenge_method").unwrap_or("plain");
            if method != "S256" && method != "plain" {
                return Err(redirect_err(
                    redirect_uri,
                    st,
                    "invalid_request",
                    "code_challenge_method must be S256 or plain",
                ));
            }
            Some((method.to_owned(), ch.to_owned()))
        }
    };
    let user = match get(p, "sim_user") {
        Some(email) => match state.user_by_email(email) {
            Some(u) => u.index,
            None => return Err(page_err("Unknown sim_user.")),
        },
        None => 0,
    };
    Ok(AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: st.map(str::to_owned),
        scopes,
        challenge,
        prompt: get(p, "prompt").map(str::to_owned),
        user,
    })
}

fn issue_code(state: &SimState, req: &AuthorizeRequest, sites: Vec<usize>) -> Response {
    let code = random_token("", 48);
    let now = state.clock.now_secs();
    {
        let mut auth = state.auth.lock();
        auth.consents
            .insert((req.client_id.clone(), req.user), sites.clone());
        auth.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: req.client_id.clone(),
                redirect_uri: req.redirect_uri.clone(),
                user: req.user,
                sites,
                scopes: req.scopes.clone(),
                challenge: req.challenge.clone(),
                expires_at: now + CODE_TTL_SECS,
                used: false,
            },
        );
    }
    let mut p = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        p.push(("state", s));
    }
    redirect(&req.redirect_uri, &p)
}

pub async fn get_authorize(
    State(state): State<Arc<SimState>>,
    RawQuery(raw): RawQuery,
) -> Response {
    state.stats.count_route("GET /authorize".to_owned());
    let p = pairs(raw.as_deref().unwrap_or(""));
    let req = match validate(&state, &p) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let accessible: Vec<usize> = {
        let auth = state.auth.lock();
        (0..state.sites.len())
            .filter(|s| auth.user_can_use_site(req.user, *s))
            .collect()
    };
    if state.cfg.consent_page {
        let prior = state
            .auth
            .lock()
            .consents
            .get(&(req.client_id.clone(), req.user))
            .cloned();
        match prior {
            Some(sites) if req.prompt.as_deref() != Some("consent") => {
                return issue_code(&state, &req, sites);
            }
            _ => return consent_page(&state, &p, &req, &accessible),
        }
    }
    issue_code(&state, &req, accessible)
}

fn consent_page(
    state: &SimState,
    p: &[(String, String)],
    req: &AuthorizeRequest,
    sites: &[usize],
) -> Response {
    let mut hidden = String::new();
    for (k, v) in p {
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            html_escape(k),
            html_escape(v)
        ));
    }
    let mut boxes = String::new();
    for s in sites {
        let site = &state.sites[*s];
        boxes.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"site\" value=\"{}\" checked> {} ({})</label><br>",
            html_escape(&site.cloud_id),
            html_escape(&site.name),
            html_escape(&site.subdomain)
        ));
    }
    let user = &state.users[req.user];
    let body = format!(
        "<!doctype html><html><head><title>Authorize app</title></head><body>\
         <h1>An app wants to access your Atlassian account</h1>\
         <p>Signed in as {} &lt;{}&gt;</p><p>Scopes: {}</p>\
         <form method=\"post\" action=\"/authorize\">{hidden}{boxes}\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Accept</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Cancel</button></form></body></html>",
        html_escape(&user.display_name),
        html_escape(&user.email),
        html_escape(&req.scopes.join(" ")),
    );
    Reply::html(StatusCode::OK, body).into_response()
}

/// The consent form's submission.
pub async fn post_authorize(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    state.stats.count_route("POST /authorize".to_owned());
    let p = pairs(std::str::from_utf8(&body).unwrap_or(""));
    let req = match validate(&state, &p) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    if get(&p, "decision") != Some("approve") {
        return redirect_error(
            &req.redirect_uri,
            req.state.as_deref(),
            "access_denied",
            "The user denied access.",
        );
    }
    let chosen: Vec<usize> = {
        let auth = state.auth.lock();
        p.iter()
            .filter(|(k, _)| k == "site")
            .filter_map(|(_, v)| state.site_by_cloud_id(v).map(|s| s.index))
            .filter(|s| auth.user_can_use_site(req.user, *s))
            .collect()
    };
    if chosen.is_empty() {
        return redirect_error(
            &req.redirect_uri,
            req.state.as_deref(),
            "access_denied",
            "No site was selected.",
        );
    }
    issue_code(&state, &req, chosen)
}
