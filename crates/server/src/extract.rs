//! axum extractors whose rejections are problem documents, not axum's plain-text defaults.

use axum::extract::{FromRequest, FromRequestParts};

use crate::problem::Problem;

/// JSON body; a malformed or mistyped body is a `validation` problem naming the field.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct ApiJson<T>(pub T);

/// Path parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct ApiPath<T>(pub T);

/// Query string.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct ApiQuery<T>(pub T);
