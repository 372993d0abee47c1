//! The audit log, filterable by connection, kind and time range, newest first, paged.

use axum::extract::{Query, State};
use axum::response::Response;
use jiragate_engine::ConnRef;
use jiragate_engine::audit::{AuditFilter, parse_time};
use minijinja::context;
use serde::Deserialize;

use super::connections::fmt_time;
use crate::Console;
use crate::render::{error_page, page};
use crate::session::{SignedIn, url_encode};

const PAGE: u32 = 50;

#[derive(Deserialize, Default)]
pub(crate) struct AuditQuery {
    connection: Option<String>,
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
    page_token: Option<String>,
}

fn present(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub(crate) async fn list(
    State(st): State<Console>,
    user: SignedIn,
    Query(q): Query<AuditQuery>,
) -> Response {
    let filter = (|| {
        Ok::<_, jiragate_engine::EngineError>(AuditFilter {
            connection: present(&q.connection).map(ConnRef::parse),
            kind: present(&q.kind).map(str::to_owned),
            since: present(&q.since)
                .map(|s| parse_time("since", s))
                .transpose()?,
            until: present(&q.until)
                .map(|s| parse_time("until", s))
                .transpose()?,
            limit: Some(PAGE),
            page_token: present(&q.page_token).map(str::to_owned),
        })
    })();
    let result = match filter {
        Ok(f) => st.engine.query_audit(user.actor(), user.org(), f).await,
        Err(e) => Err(e),
    };
    let page_data = match result {
        Ok(p) => p,
        Err(e) => return error_page(&st, Some(&user), &e),
    };
    let next = page_data.next_page_token.as_ref().map(|t| {
        let mut qs = vec![format!("page_token={}", url_encode(t))];
        for (k, v) in [
            ("connection", &q.connection),
            ("kind", &q.kind),
            ("since", &q.since),
            ("until", &q.until),
        ] {
            if let Some(v) = present(v) {
                qs.push(format!("{k}={}", url_encode(v)));
            }
        }
        format!("/console/audit?{}", qs.join("&"))
    });
    let ctx = context! {
        events => page_data.events.iter().map(|e| context! {
            at => fmt_time(e.at), actor => e.actor.clone(), action => e.action.clone(),
            target => e.target.clone(), detail => e.detail.to_string(),
        }).collect::<Vec<_>>(),
        filter => context! {
            connection => present(&q.connection), kind => present(&q.kind),
            since => present(&q.since), until => present(&q.until),
        },
        next => next,
    };
    page(&st, &user, "audit", "audit.html", ctx)
}
