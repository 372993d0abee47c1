//! Canary: known secrets sealed through the vault and stored through the public API never
//! appear in clear anywhere in the database: not in the SQLite file, its WAL or shared
//! memory file, and not in any text/json/bytea column in PostgreSQL.

use std::time::Duration;

use jiragate_store::*;
use jiragate_vault::{DataKey, MasterKey, SealContext, SealedSecret, SecretString};
use secrecy::ExposeSecret;
use sqlx::Connection as _;

use crate::common::*;

both_backends!(sealed_secrets_never_appear_in_clear);

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// How many times `needle` occurs in the raw database.
pub async fn occurrences(db: &TestDb, needle: &str) -> usize {
    if let Some(path) = &db.sqlite_path {
        let mut total = 0;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let file = format!("{}{suffix}", path.display());
            if let Ok(bytes) = std::fs::read(&file) {
                total += count(&bytes, needle.as_bytes());
            }
        }
        return total;
    }
    let schema = db.pg_schema.as_deref().expect("postgres schema");
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = $1 AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea')",
    )
    .bind(schema)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(columns.len() > 20, "scanned too few columns: {columns:?}");
    let mut total = 0usize;
    for (table, column, ty) in columns {
        let predicate = if ty == "bytea" {
            format!("position(convert_to($1, 'UTF8') in \"{column}\") > 0")
        } else {
            format!("strpos(\"{column}\"::text, $1) > 0")
        };
        let sql = format!("SELECT COUNT(*) FROM \"{schema}\".\"{table}\" WHERE {predicate}");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(needle)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        total += n as usize;
    }
    total
}

async fn sealed_secrets_never_appear_in_clear(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "canary-org").await;
    let master = MasterKey::generate();
    s.put_key_check(&master.key_id(), &master.key_check())
        .await
        .unwrap();
    let dk = DataKey::generate();
    s.put_data_key(&org, 1, &master.wrap(&dk, org.as_str(), 1))
        .await
        .unwrap();

    let canary = |what: &str| format!("CANARY-{what}-{}", ConnectionId::new());
    let api_token = canary("api-token");
    let access = canary("access-token");
    let refresh = canary("refresh-token");
    let client_secret = canary("client-secret");
    let verifier = canary("pkce-verifier");
    let pending = canary("pending-tokens");
    let seal = |record: &str, field: &str, plain: &str| -> String {
        let ctx = SealContext {
            org_id: org.as_str(),
            record_id: record,
            field,
            key_version: 1,
        };
        dk.seal(&ctx, &SecretString::from(plain.to_owned()))
            .into_string()
    };

    let mut oc = new_oauth_client("canary-client");
    oc.sealed_client_secret = seal(oc.id.as_str(), "client_secret", &client_secret);
    let client = s.create_oauth_client(&org, oc).await.unwrap();

    let token_conn = new_connection("canary-api-token-connection");
    let sealed_api = seal(token_conn.id.as_str(), "api_token", &api_token);
    let token_conn = s
        .create_connection(&org, token_conn, api_token_credential(&sealed_api))
        .await
        .unwrap();

    let mut oauth_conn = new_connection("canary-oauth-connection");
    oauth_conn.auth_kind = AuthKind::OAuth2;
    oauth_conn.oauth_client_id = Some(client.id.clone());
    let id = oauth_conn.id.clone();
    let oauth_conn = s
        .create_connection(
            &org,
            oauth_conn,
            NewCredential {
                sealed_access_token: Some(seal(id.as_str(), "access_token", &access)),
                sealed_refresh_token: Some(seal(id.as_str(), "refresh_token", &refresh)),
                ..NewCredential::default()
            },
        )
        .await
        .unwrap();

    let mut ns = new_session(&client.id, "canary-state-hash", Duration::from_secs(600));
    ns.sealed_pkce_verifier = seal(ns.id.as_str(), "pkce_verifier", &verifier);
    let sess = s.create_connect_session(&org, ns).await.unwrap();
    s.update_connect_session(
        &org,
        &sess.id,
        ConnectSessionPatch {
            sealed_pending_tokens: Some(Some(seal(sess.id.as_str(), "pending_tokens", &pending))),
            ..ConnectSessionPatch::default()
        },
    )
    .await
    .unwrap();

    // The secrets are really there (sealed): they open through the public API.
    let cred = s
        .get_credential(&org, &oauth_conn.id)
        .await
        .unwrap()
        .unwrap();
    let ctx = SealContext {
        org_id: org.as_str(),
        record_id: oauth_conn.id.as_str(),
        field: "refresh_token",
        key_version: 1,
    };
    let sealed: SealedSecret = cred.sealed_refresh_token.unwrap().parse().unwrap();
    assert_eq!(dk.open(&ctx, &sealed).unwrap().expose_secret(), refresh);
    let cred = s
        .get_credential(&org, &token_conn.id)
        .await
        .unwrap()
        .unwrap();
    let ctx = SealContext {
        record_id: token_conn.id.as_str(),
        field: "api_token",
        ..ctx
    };
    let sealed: SealedSecret = cred.sealed_api_token.unwrap().parse().unwrap();
    assert_eq!(dk.open(&ctx, &sealed).unwrap().expose_secret(), api_token);

    // Positive control: the scanner finds non-secret values we stored.
    assert!(
        occurrences(db, "canary-oauth-connection").await > 0,
        "scanner cannot see stored text"
    );
    assert!(occurrences(db, "canary-state-hash").await > 0);

    for (what, secret) in [
        ("api token", &api_token),
        ("access token", &access),
        ("refresh token", &refresh),
        ("client secret", &client_secret),
        ("pkce verifier", &verifier),
        ("pending tokens", &pending),
    ] {
        assert_eq!(
            occurrences(db, secret).await,
            0,
            "{what} found in clear in the database"
        );
    }
    // The data key itself is only stored wrapped.
    let kc = s.get_key_check().await.unwrap().unwrap();
    assert_eq!(kc.master_key_id, master.key_id());
    assert_eq!(occurrences(db, master.to_base64().expose_secret()).await, 0);
}
