//! What API handlers return, and Jira's error shapes.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

pub enum Body {
    Json(Value),
    Bytes {
        content_type: String,
        data: Bytes,
        filename: Option<String>,
    },
    Html(String),
    Empty,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Body,
    pub headers: Vec<(HeaderName, String)>,
}

pub type HandlerResult = Result<Reply, Reply>;

impl Reply {
    pub fn json(status: StatusCode, v: Value) -> Reply {
        Reply {
            status,
            body: Body::Json(v),
            headers: Vec::new(),
        }
    }
    pub fn ok(v: Value) -> Reply {
        Reply::json(StatusCode::OK, v)
    }
    pub fn created(v: Value) -> Reply {
        Reply::json(StatusCode::CREATED, v)
    }
    pub fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: Body::Empty,
            headers: Vec::new(),
        }
    }
    pub fn html(status: StatusCode, html: String) -> Reply {
        Reply {
            status,
            body: Body::Html(html),
            headers: Vec::new(),
        }
    }
    /// `{"errorMessages": [...], "errors": {...}}`.
    pub fn jira_error(status: StatusCode, messages: &[&str], errors: &[(&str, &str)]) -> Reply {
        let errors: serde_json::Map<String, Value> = errors
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        Reply::json(status, json!({"errorMessages": messages, "errors": errors}))
    }
    pub fn not_found(msg: &str) -> Reply {
        Reply::jira_error(StatusCode::NOT_FOUND, &[msg], &[])
    }
    pub fn bad_request(msg: &str) -> Reply {
        Reply::jira_error(StatusCode::BAD_REQUEST, &[msg], &[])
    }
    pub fn field_error(field: &str, msg: &str) -> Reply {
        Reply::jira_error(StatusCode::BAD_REQUEST, &[], &[(field, msg)])
    }
    /// Service Management's error shape.
    pub fn sd_error(status: StatusCode, msg: &str) -> Reply {
        Reply::json(
            status,
            json!({"errorMessage": msg, "i18nErrorMessage": {"i18nKey": "sd.error", "parameters": []}}),
        )
    }
    /// The API gateway's error shape (`api.atlassian.com`).
    pub fn gateway_error(status: StatusCode, msg: &str) -> Reply {
        Reply::json(status, json!({"code": status.as_u16(), "message": msg}))
    }
    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut resp = match self.body {
            Body::Json(v) => {
                let bytes = serde_json::to_vec(&v).unwrap_or_default();
                (
                    [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
                    bytes,
                )
                    .into_response()
            }
            Body::Bytes {
                content_type,
                data,
                filename,
            } => {
                let mut r = data.into_response();
                if let Ok(v) = HeaderValue::from_str(&content_type) {
                    r.headers_mut().insert(header::CONTENT_TYPE, v);
                }
                if let Some(f) = filename {
                    let safe: String = f.chars().filter(|c| !c.is_control() && *c != '"').collect();
                    if let Ok(v) =
                        HeaderValue::from_str(&format!("attachment; filename=\"{safe}\""))
                    {
                        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                    }
                }
                r
            }
            Body::Html(h) => {
                ([(header::CONTENT_TYPE, "text/html;charset=UTF-8")], h).into_response()
            }
            Body::Empty => ().into_response(),
        };
        *resp.status_mut() = self.status;
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().append(name, v);
            }
        }
        resp
    }
}
