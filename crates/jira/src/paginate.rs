//! Pagination as async streams: one page in memory at a time, items yielded one by one.

use std::sync::Arc;

use futures::Stream;
use http::Method;
use serde_json::Value;

use crate::client::JiraClient;
use crate::error::JiraError;
use crate::request::{JiraRequest, RequestBody};
use crate::target::TokenSource;

/// How an endpoint pages. `items` names the array of results in each page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStyle {
    /// Platform REST: `startAt`/`maxResults` in, `startAt`/`isLast`/`total` out. An `items` of
    /// `""` means the endpoint answers a bare array (not paginated: one page).
    Offset { items: &'static str },
    /// `/rest/api/3/search/jql`: `nextPageToken` (query for GET, body for POST); no token = last.
    NextPageToken { items: &'static str },
    /// Agile 1.0: `startAt`/`maxResults` in, `startAt`/`isLast` (sometimes `total`) out.
    Agile { items: &'static str },
    /// Service management: `start`/`limit` in, `start`/`size`/`isLastPage`/`values` out.
    ServiceDesk,
}

/// Stops a broken server (a page that never says "last") from looping forever.
pub const MAX_PAGES: usize = 100_000;

impl JiraClient {
    /// Streams every item of every page. Each page is fetched only after the previous page's
    /// items were consumed, so memory stays at one page regardless of the result size.
    pub fn paginate(
        &self,
        src: Arc<dyn TokenSource>,
        req: JiraRequest,
        style: PageStyle,
    ) -> impl Stream<Item = Result<Value, JiraError>> + Send + 'static {
        let client = self.clone();
        async_stream::try_stream! {
            let mut req = req;
            match style {
                PageStyle::Offset { items } | PageStyle::Agile { items } => {
                    let mut start = start_param(&req, "startAt");
                    for page_no in 0.. {
                        check_page_budget(page_no)?;
                        req.set_query("startAt", start.to_string());
                        let mut page = client.send(&*src, req.clone()).await?.value()?;
                        if items.is_empty() || page.is_array() {
                            // A bare array is the whole answer.
                            for item in take_items(&mut page, "")? {
                                yield item;
                            }
                            break;
                        }
                        let list = take_items(&mut page, items)?;
                        let count = list.len() as u64;
                        let page_start = page.get("startAt").and_then(Value::as_u64).unwrap_or(start);
                        let is_last = page.get("isLast").and_then(Value::as_bool) == Some(true);
                        let past_total = page
                            .get("total")
                            .and_then(Value::as_u64)
                            .is_some_and(|total| page_start + count >= total);
                        for item in list {
                            yield item;
                        }
                        if count == 0 || is_last || past_total {
                            break;
                        }
                        start = page_start + count;
                    }
                }
                PageStyle::ServiceDesk => {
                    let mut start = start_param(&req, "start");
                    for page_no in 0.. {
                        check_page_budget(page_no)?;
                        req.set_query("start", start.to_string());
                        let mut page = client.send(&*src, req.clone()).await?.value()?;
                        let list = take_items(&mut page, "values")?;
                        let count = list.len() as u64;
                        let page_start = page.get("start").and_then(Value::as_u64).unwrap_or(start);
                        let size = page.get("size").and_then(Value::as_u64).unwrap_or(count);
                        let is_last = page.get("isLastPage").and_then(Value::as_bool) == Some(true);
                        for item in list {
                            yield item;
                        }
                        if count == 0 || is_last {
                            break;
                        }
                        start = page_start + size.max(count);
                    }
                }
                PageStyle::NextPageToken { items } => {
                    let mut previous: Option<String> = None;
                    for page_no in 0.. {
                        check_page_budget(page_no)?;
                        let mut page = client.send(&*src, req.clone()).await?.value()?;
                        let list = take_items(&mut page, items)?;
                        let token = page
                            .get("nextPageToken")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                            .map(str::to_owned);
                        for item in list {
                            yield item;
                        }
                        let Some(token) = token else { break };
                        if previous.as_deref() == Some(token.as_str()) {
                            Err(JiraError::InvalidResponse {
                                message: "Jira returned the same nextPageToken twice; stopping to avoid a loop".to_owned(),
                            })?;
                        }
                        set_page_token(&mut req, &token)?;
                        previous = Some(token);
                    }
                }
            }
        }
    }
}

fn start_param(req: &JiraRequest, key: &str) -> u64 {
    req.query_value(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn check_page_budget(page_no: usize) -> Result<(), JiraError> {
    if page_no >= MAX_PAGES {
        return Err(JiraError::InvalidResponse {
            message: format!("pagination did not end after {MAX_PAGES} pages; stopping"),
        });
    }
    Ok(())
}

/// Moves the item array out of a page (so the page's other fields can still be read).
fn take_items(page: &mut Value, key: &str) -> Result<Vec<Value>, JiraError> {
    let slot = if key.is_empty() {
        Some(page)
    } else {
        page.get_mut(key)
    };
    match slot.map(Value::take) {
        Some(Value::Array(items)) => Ok(items),
        Some(Value::Null) | None => Err(JiraError::InvalidResponse {
            message: format!(
                "page has no `{}` array",
                if key.is_empty() { "<top-level>" } else { key }
            ),
        }),
        Some(other) => Err(JiraError::InvalidResponse {
            message: format!("`{key}` is not an array but {}", json_kind(&other)),
        }),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// GET carries the token in the query, POST in the JSON body.
fn set_page_token(req: &mut JiraRequest, token: &str) -> Result<(), JiraError> {
    if req.method == Method::GET {
        req.set_query("nextPageToken", token);
        return Ok(());
    }
    match &mut req.body {
        RequestBody::Json(Value::Object(map)) => {
            map.insert("nextPageToken".to_owned(), Value::String(token.to_owned()));
            Ok(())
        }
        RequestBody::None => {
            req.body = RequestBody::Json(serde_json::json!({ "nextPageToken": token }));
            Ok(())
        }
        _ => Err(JiraError::InvalidResponse {
            message: "nextPageToken paging needs a JSON object body for non-GET requests"
                .to_owned(),
        }),
    }
}
