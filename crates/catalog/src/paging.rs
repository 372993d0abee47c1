//! Page parameters and page answers for each upstream paging style.

use jiragate_jira::{JiraRequest, RequestBody};
use serde_json::Value;

use crate::def::Paging;
use crate::error::CatalogError;

/// Where the next page starts.
#[derive(Clone, Debug)]
pub(crate) enum Cursor {
    Offset(u64),
    Token(Option<String>),
}

/// One page of an answer.
#[derive(Debug)]
pub(crate) struct Page {
    pub items: Vec<Value>,
    /// The cursor of the following page, `None` on the last page.
    pub next: Option<Cursor>,
}

impl Cursor {
    /// The caller's `page_token` (or the first page).
    pub fn from_token(paging: Paging, token: Option<&str>) -> Result<Cursor, CatalogError> {
        match paging {
            Paging::NextPageToken { .. } => Ok(Cursor::Token(token.map(str::to_owned))),
            _ => match token {
                None => Ok(Cursor::Offset(0)),
                Some(t) => t.parse::<u64>().map(Cursor::Offset).map_err(|_| {
                    CatalogError::invalid(
                        "page_token",
                        format!("'{t}' is not a page token of this action (pass back next_page_token unchanged)"),
                    )
                }),
            },
        }
    }

    pub fn token(&self) -> Option<String> {
        match self {
            Cursor::Offset(n) => Some(n.to_string()),
            Cursor::Token(t) => t.clone(),
        }
    }
}

/// The largest page each style serves reliably (Jira's documented maxima).
pub(crate) fn max_page(paging: Paging) -> u32 {
    match paging {
        Paging::NextPageToken { .. } => 100,
        Paging::Agile { .. } | Paging::ServiceDesk => 50,
        _ => 100,
    }
}

/// Sets the page parameters of `req` for the page at `cursor`.
pub(crate) fn apply(paging: Paging, req: &mut JiraRequest, cursor: &Cursor, size: u32) {
    match (paging, cursor) {
        (Paging::NextPageToken { .. }, Cursor::Token(token)) => {
            if let RequestBody::Json(Value::Object(body)) = &mut req.body {
                body.insert("maxResults".into(), size.into());
                match token {
                    Some(t) => body.insert("nextPageToken".into(), t.clone().into()),
                    None => body.remove("nextPageToken"),
                };
            } else {
                req.set_query("maxResults", size.to_string());
                req.query.retain(|(k, _)| k != "nextPageToken");
                if let Some(t) = token {
                    req.set_query("nextPageToken", t.clone());
                }
            }
        }
        (Paging::ServiceDesk, Cursor::Offset(start)) => {
            req.set_query("start", start.to_string());
            req.set_query("limit", size.to_string());
        }
        (Paging::None, _) => {}
        (_, Cursor::Offset(start)) => {
            req.set_query("startAt", start.to_string());
            req.set_query("maxResults", size.to_string());
        }
        (_, Cursor::Token(_)) => {}
    }
}

/// Splits an answer into its items and the cursor of the next page.
pub(crate) fn read(paging: Paging, body: Value, cursor: &Cursor, size: u32) -> Page {
    let start = match cursor {
        Cursor::Offset(n) => *n,
        Cursor::Token(_) => 0,
    };
    match paging {
        Paging::None => Page {
            items: vec![body],
            next: None,
        },
        Paging::OffsetArray => {
            let items = into_array(body);
            let full = items.len() as u64 >= u64::from(size) && !items.is_empty();
            let next = full.then(|| Cursor::Offset(start + items.len() as u64));
            Page { items, next }
        }
        Paging::NextPageToken { items } => {
            let mut body = body;
            let token = body
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            let is_last = body.get("isLast").and_then(Value::as_bool) == Some(true);
            let items = into_array(body.get_mut(items).map(Value::take).unwrap_or(Value::Null));
            let next = match token {
                Some(t) if !is_last => Some(Cursor::Token(Some(t))),
                _ => None,
            };
            Page { items, next }
        }
        Paging::Offset { items } | Paging::Agile { items } => {
            offset_page(body, items, "startAt", "isLast", start, size)
        }
        Paging::ServiceDesk => offset_page(body, "values", "start", "isLastPage", start, size),
    }
}

fn offset_page(
    mut body: Value,
    items_key: &str,
    start_key: &str,
    last_key: &str,
    requested_start: u64,
    size: u32,
) -> Page {
    let start = body
        .get(start_key)
        .and_then(Value::as_u64)
        .unwrap_or(requested_start);
    let total = body.get("total").and_then(Value::as_u64);
    let is_last_flag = body.get(last_key).and_then(Value::as_bool);
    let items = into_array(
        body.get_mut(items_key)
            .map(Value::take)
            .unwrap_or(Value::Null),
    );
    let end = start + items.len() as u64;
    let is_last = items.is_empty()
        || match (is_last_flag, total) {
            (Some(flag), _) => flag,
            (None, Some(total)) => end >= total,
            (None, None) => (items.len() as u64) < u64::from(size),
        };
    Page {
        items,
        next: (!is_last).then_some(Cursor::Offset(end)),
    }
}

fn into_array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn offset_pages_end_on_is_last_or_total() {
        let p = read(
            Paging::Offset { items: "values" },
            json!({"startAt": 0, "maxResults": 2, "total": 3, "values": [1, 2]}),
            &Cursor::Offset(0),
            2,
        );
        assert_eq!(p.items.len(), 2);
        assert!(matches!(p.next, Some(Cursor::Offset(2))));
        let p = read(
            Paging::Offset { items: "values" },
            json!({"startAt": 2, "isLast": true, "values": [3]}),
            &Cursor::Offset(2),
            2,
        );
        assert!(p.next.is_none());
    }

    #[test]
    fn token_pages_end_without_token() {
        let p = read(
            Paging::NextPageToken { items: "issues" },
            json!({"issues": [{"id": "1"}], "nextPageToken": "abc"}),
            &Cursor::Token(None),
            1,
        );
        assert!(matches!(p.next, Some(Cursor::Token(Some(ref t))) if t == "abc"));
        let p = read(
            Paging::NextPageToken { items: "issues" },
            json!({"issues": [{"id": "2"}], "isLast": true}),
            &Cursor::Token(Some("abc".into())),
            1,
        );
        assert!(p.next.is_none());
    }

    #[test]
    fn service_desk_pages_use_is_last_page() {
        let p = read(
            Paging::ServiceDesk,
            json!({"start": 0, "limit": 1, "size": 1, "isLastPage": false, "values": [1]}),
            &Cursor::Offset(0),
            1,
        );
        assert!(matches!(p.next, Some(Cursor::Offset(1))));
    }

    #[test]
    fn bare_arrays_end_on_a_short_page() {
        let p = read(Paging::OffsetArray, json!([1, 2]), &Cursor::Offset(0), 2);
        assert!(matches!(p.next, Some(Cursor::Offset(2))));
        let p = read(Paging::OffsetArray, json!([3]), &Cursor::Offset(2), 2);
        assert!(p.next.is_none());
    }

    #[test]
    fn post_bodies_carry_the_token() {
        let mut req = JiraRequest::post("/rest/api/3/search/jql", json!({"jql": "x"}));
        apply(
            Paging::NextPageToken { items: "issues" },
            &mut req,
            &Cursor::Token(Some("t".into())),
            10,
        );
        match &req.body {
            RequestBody::Json(b) => {
                assert_eq!(b["nextPageToken"], "t");
                assert_eq!(b["maxResults"], 10);
            }
            other => panic!("{other:?}"),
        }
        assert!(Cursor::from_token(Paging::ServiceDesk, Some("x")).is_err());
    }
}
