//! Page parameters and page answers for each upstream paging style.

use jiragate_jira::{JiraRequest, RequestBody};
use serde_json::Value;
use serde_json::value::RawValue;

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

/// Where a page's items are in an answer of each paging style.
enum ItemsAt {
    /// The whole answer is the one item.
    Whole,
    /// The answer is a bare array of items.
    Array,
    /// The items are the array under this key of the answer object.
    Key(&'static str),
}

fn items_at(paging: Paging) -> ItemsAt {
    match paging {
        Paging::None => ItemsAt::Whole,
        Paging::OffsetArray => ItemsAt::Array,
        Paging::NextPageToken { items } | Paging::Offset { items } | Paging::Agile { items } => {
            ItemsAt::Key(items)
        }
        Paging::ServiceDesk => ItemsAt::Key("values"),
    }
}

/// Splits an answer into its items and the cursor of the next page.
pub(crate) fn read(paging: Paging, mut body: Value, cursor: &Cursor, size: u32) -> Page {
    let items = match items_at(paging) {
        ItemsAt::Whole => vec![body.take()],
        ItemsAt::Array => into_array(body.take()),
        ItemsAt::Key(key) => into_array(body.get_mut(key).map(Value::take).unwrap_or(Value::Null)),
    };
    let next = next_cursor(paging, &body, items.len(), cursor, size);
    Page { items, next }
}

/// A page whose items are still the JSON text Jira sent (nothing parsed into values beyond
/// the few fields that say where the next page starts).
pub(crate) struct RawPage<'a> {
    pub items: Vec<&'a RawValue>,
    pub next: Option<Cursor>,
}

/// [`read`] without building values for the items: `None` when the answer does not have
/// the usual form (not an object where one is expected, duplicate keys …); the caller then
/// takes the [`read`] path, which decides such cases.
pub(crate) fn read_raw<'a>(
    paging: Paging,
    body: &'a [u8],
    cursor: &Cursor,
    size: u32,
) -> Option<RawPage<'a>> {
    const PAGE_FIELDS: [&str; 6] = [
        "nextPageToken",
        "isLast",
        "startAt",
        "start",
        "total",
        "isLastPage",
    ];
    let (items, fields) = match items_at(paging) {
        ItemsAt::Whole => (
            vec![serde_json::from_slice::<&RawValue>(body).ok()?],
            Value::Null,
        ),
        ItemsAt::Array => (
            serde_json::from_slice::<Vec<&RawValue>>(body).ok()?,
            Value::Null,
        ),
        ItemsAt::Key(key) => {
            let top: Vec<(std::borrow::Cow<'a, str>, &'a RawValue)> =
                serde_json::from_slice::<RawObject<'a>>(body).ok()?.0;
            let mut fields = serde_json::Map::new();
            let mut items = None;
            for (k, v) in &top {
                if k == key {
                    // A repeated key: the value parser keeps the last one; so do we.
                    items = Some(*v);
                } else if PAGE_FIELDS.contains(&k.as_ref()) {
                    fields.insert(k.to_string(), serde_json::from_str(v.get()).ok()?);
                }
            }
            let items = match items {
                None => Vec::new(),
                Some(raw) if raw.get() == "null" => Vec::new(),
                Some(raw) if raw.get().starts_with('[') => {
                    serde_json::from_str::<Vec<&RawValue>>(raw.get()).ok()?
                }
                Some(raw) => vec![raw],
            };
            (items, Value::Object(fields))
        }
    };
    let next = next_cursor(paging, &fields, items.len(), cursor, size);
    Some(RawPage { items, next })
}

/// A JSON object's members in order, values unparsed.
pub(crate) struct RawObject<'a>(pub Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    out.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(RawObject(out))
            }
        }
        d.deserialize_map(Members)
    }
}

/// An object key, borrowed from the input unless it holds escapes.
pub(crate) struct Key<'a>(pub std::borrow::Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyText;
        impl<'de> serde::de::Visitor<'de> for KeyText {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyText)
    }
}

/// The cursor after a page of `count` items, from the answer's paging fields.
fn next_cursor(
    paging: Paging,
    body: &Value,
    count: usize,
    cursor: &Cursor,
    size: u32,
) -> Option<Cursor> {
    let start = match cursor {
        Cursor::Offset(n) => *n,
        Cursor::Token(_) => 0,
    };
    match paging {
        Paging::None => None,
        Paging::OffsetArray => {
            let full = count as u64 >= u64::from(size) && count > 0;
            full.then(|| Cursor::Offset(start + count as u64))
        }
        Paging::NextPageToken { .. } => {
            let token = body
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            let is_last = body.get("isLast").and_then(Value::as_bool) == Some(true);
            match token {
                Some(t) if !is_last => Some(Cursor::Token(Some(t))),
                _ => None,
            }
        }
        Paging::Offset { .. } | Paging::Agile { .. } => {
            offset_next(body, count, "startAt", "isLast", start, size)
        }
        Paging::ServiceDesk => offset_next(body, count, "start", "isLastPage", start, size),
    }
}

fn offset_next(
    body: &Value,
    count: usize,
    start_key: &str,
    last_key: &str,
    requested_start: u64,
    size: u32,
) -> Option<Cursor> {
    let start = body
        .get(start_key)
        .and_then(Value::as_u64)
        .unwrap_or(requested_start);
    let total = body.get("total").and_then(Value::as_u64);
    let is_last_flag = body.get(last_key).and_then(Value::as_bool);
    let end = start + count as u64;
    let is_last = count == 0
        || match (is_last_flag, total) {
            (Some(flag), _) => flag,
            (None, Some(total)) => end >= total,
            (None, None) => (count as u64) < u64::from(size),
        };
    (!is_last).then_some(Cursor::Offset(end))
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
