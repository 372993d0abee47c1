//! Multipart parsing for attachment uploads.

use bytes::Bytes;
use http::{HeaderMap, header};

pub struct Upload {
    pub field: String,
    pub filename: String,
    pub content_type: String,
    pub data: Bytes,
}

pub async fn parse(headers: &HeaderMap, body: Bytes) -> Result<Vec<Upload>, String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(ct)
        .map_err(|_| "the request is not multipart/form-data".to_owned())?;
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut out = Vec::new();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| format!("malformed multipart body: {e}"))?
    {
        let name = field.name().unwrap_or("").to_owned();
        let filename = field.file_name().unwrap_or("").to_owned();
        let content_type = field
            .content_type()
            .map(|m| m.to_string())
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let data = field
            .bytes()
            .await
            .map_err(|e| format!("malformed multipart body: {e}"))?;
        out.push(Upload {
            field: name,
            filename,
            content_type,
            data,
        });
    }
    Ok(out)
}
