use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary prints exactly one JSON line with the contract fields, then serves.
#[tokio::test]
async fn binary_prints_one_json_line_then_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atlassian-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "5",
            "--issues",
            "100000",
            "--sites",
            "acme",
            "--redirect-uri",
            "http://127.0.0.1:7/cb",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("prints in time")
        .unwrap()
        .unwrap();
    let elapsed = started.elapsed();
    let info: Value = serde_json::from_str(&line).expect("one JSON line");
    for k in [
        "auth_url",
        "api_url",
        "site_url",
        "sites",
        "oauth_clients",
        "users",
    ] {
        assert!(info.get(k).is_some(), "{k}");
    }
    assert!(
        info["site_url"]
            .as_str()
            .unwrap()
            .ends_with("/site/{subdomain}")
    );
    assert_eq!(info["sites"][0]["subdomain"], "acme");
    for k in ["subdomain", "cloud_id", "url", "name"] {
        assert!(info["sites"][0][k].is_string());
    }
    assert!(
        info["oauth_clients"][0]["redirect_uris"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == "http://127.0.0.1:7/cb")
    );
    for k in ["email", "account_id", "api_token", "scoped_api_token"] {
        assert!(info["users"][0][k].is_string());
    }
    assert!(
        elapsed < Duration::from_secs(15),
        "100k issues start in seconds (took {elapsed:?})"
    );
    let url = format!(
        "{}/site/acme/rest/api/3/issue/ENG-25000?fields=summary",
        info["api_url"].as_str().unwrap()
    );
    let u = &info["users"][0];
    let resp = reqwest::Client::new()
        .get(url)
        .basic_auth(u["email"].as_str().unwrap(), u["api_token"].as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    child.kill().ok();
    child.wait().ok();
}
