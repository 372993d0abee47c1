use reqwest::Method;
use reqwest::multipart::{Form, Part};

use crate::common::*;

fn form(bytes: &'static [u8]) -> Form {
    Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name("notes.txt")
            .mime_str("text/plain")
            .unwrap(),
    )
}

#[tokio::test]
async fn upload_requires_xsrf_header_then_download_and_delete() {
    let sim = sim(8).await;
    let path = "/rest/api/3/issue/ENG-2/attachments";
    let resp = site_req(&sim, Method::POST, path)
        .multipart(form(b"hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = site_req(&sim, Method::POST, path)
        .header("X-Atlassian-Token", "no-check")
        .multipart(form(b"hello attachment"))
        .send()
        .await
        .unwrap();
    let (status, list) = json_of(resp).await;
    assert_eq!(status, 200, "{list}");
    let a = list[0].clone();
    assert_eq!(a["filename"], "notes.txt");
    assert_eq!(a["size"], 16);
    let id = s(&a["id"]);
    let (_, meta) = get(&sim, &format!("/rest/api/3/attachment/{id}")).await;
    assert_eq!(meta["mimeType"], "text/plain");
    let resp = site_req(
        &sim,
        Method::GET,
        &format!("/rest/api/3/attachment/content/{id}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"hello attachment");
    let (_, issue) = get(&sim, "/rest/api/3/issue/ENG-2?fields=attachment").await;
    assert_eq!(s(&issue["fields"]["attachment"][0]["id"]), id);
    let wrong_field = Form::new().part("upload", Part::bytes(&b"x"[..]).file_name("x.txt"));
    let resp = site_req(&sim, Method::POST, path)
        .header("X-Atlassian-Token", "no-check")
        .multipart(wrong_field)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        site_req(
            &sim,
            Method::DELETE,
            &format!("/rest/api/3/attachment/{id}")
        )
        .send()
        .await
        .unwrap()
        .status(),
        204
    );
    assert_eq!(
        get(&sim, &format!("/rest/api/3/attachment/{id}")).await.0,
        404
    );
}
