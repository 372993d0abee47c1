//! Property tests: sealing round-trips; any bit flip or any change of the bound context
//! (organization, record, field, key version) makes opening fail.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiragate_vault::*;
use proptest::prelude::*;

fn ctx<'a>(org: &'a str, record: &'a str, field: &'a str, v: u32) -> SealContext<'a> {
    SealContext {
        org_id: org,
        record_id: record,
        field,
        key_version: v,
    }
}

/// Decodes a sealed text into (version text, nonce||ciphertext bytes).
fn raw(sealed: &SealedSecret) -> (String, Vec<u8>) {
    let parts: Vec<&str> = sealed.as_str().split('.').collect();
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[0], SEALED_PREFIX);
    let mut bytes = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    bytes.extend(URL_SAFE_NO_PAD.decode(parts[3]).unwrap());
    (parts[1].to_owned(), bytes)
}

fn rebuild(version: &str, bytes: &[u8]) -> SealedSecret {
    let (nonce, ct) = bytes.split_at(12);
    format!(
        "{SEALED_PREFIX}.{version}.{}.{}",
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(ct)
    )
    .parse()
    .unwrap()
}

fn id() -> impl Strategy<Value = String> {
    "[a-z0-9-]{0,24}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn seal_open_round_trips(plain in any::<String>(), org in id(), record in id(), field in id(), v in any::<u32>()) {
        let dk = DataKey::generate();
        let c = ctx(&org, &record, &field, v);
        let sealed = dk.seal(&c, &SecretString::from(plain.clone()));
        prop_assert!(!sealed.as_str().contains(&plain) || plain.len() < 8);
        prop_assert_eq!(sealed.key_version().unwrap(), v);
        let reparsed: SealedSecret = sealed.as_str().parse().unwrap();
        let opened = dk.open(&c, &reparsed).unwrap();
        prop_assert_eq!(opened.expose_secret(), plain.as_str());
    }

    #[test]
    fn any_bit_flip_fails(plain in ".{0,64}", bit in any::<prop::sample::Index>()) {
        let dk = DataKey::generate();
        let c = ctx("org", "rec", "api_token", 1);
        let sealed = dk.seal(&c, &SecretString::from(plain));
        let (version, mut bytes) = raw(&sealed);
        let i = bit.index(bytes.len() * 8);
        bytes[i / 8] ^= 1 << (i % 8);
        let tampered = rebuild(&version, &bytes);
        prop_assert!(dk.open(&c, &tampered).is_err());
    }

    #[test]
    fn any_context_change_fails(
        plain in ".{1,64}",
        org in id(), record in id(), field in id(), v in 0u32..1000,
        which in 0usize..4, other in "[A-Z]{1,8}",
    ) {
        let dk = DataKey::generate();
        let c = ctx(&org, &record, &field, v);
        let sealed = dk.seal(&c, &SecretString::from(plain));
        let org2 = format!("{org}{other}");
        let record2 = format!("{record}{other}");
        let field2 = format!("{field}{other}");
        let moved = match which {
            0 => ctx(&org2, &record, &field, v),
            1 => ctx(&org, &record2, &field, v),
            2 => ctx(&org, &record, &field2, v),
            _ => ctx(&org, &record, &field, v + 1),
        };
        prop_assert!(dk.open(&moved, &sealed).is_err());
        // Relabelling the header's version to match the new context does not help either.
        if which == 3 {
            let (_, bytes) = raw(&sealed);
            let relabelled = rebuild(&(v + 1).to_string(), &bytes);
            prop_assert!(dk.open(&moved, &relabelled).is_err());
        }
    }

    #[test]
    fn garbage_never_parses_into_a_panic(s in ".{0,80}") {
        let dk = DataKey::generate();
        if let Ok(sealed) = s.parse::<SealedSecret>() {
            prop_assert!(dk.open(&ctx("o", "r", "f", 1), &sealed).is_err());
        }
    }
}

#[test]
fn swapping_ciphertexts_between_rows_fails() {
    let dk = DataKey::generate();
    let a = ctx("org", "conn-a", "refresh_token", 1);
    let b = ctx("org", "conn-b", "refresh_token", 1);
    let sealed_a = dk.seal(&a, &SecretString::from("token-a".to_owned()));
    let err = dk.open(&b, &sealed_a).unwrap_err();
    assert!(matches!(err, VaultError::OpenFailed { .. }), "{err}");
    assert!(!err.to_string().contains("token-a"));
    // Same plaintext twice gives different ciphertexts (random nonces).
    let again = dk.seal(&a, &SecretString::from("token-a".to_owned()));
    assert_ne!(sealed_a, again);
}

#[test]
fn another_data_key_cannot_open() {
    let c = ctx("org", "r", "f", 1);
    let sealed = DataKey::generate().seal(&c, &SecretString::from("s3cret".to_owned()));
    assert!(DataKey::generate().open(&c, &sealed).is_err());
}

#[test]
fn sealed_format_is_self_describing_and_strict() {
    let dk = DataKey::generate();
    let sealed = dk.seal(&ctx("o", "r", "f", 7), &SecretString::from("x".to_owned()));
    assert!(sealed.as_str().starts_with("jgv1.7."));
    assert_eq!(sealed.key_version().unwrap(), 7);
    for bad in [
        "",
        "jgv1",
        "jgv2.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
        "jgv1.x.a.b",
        "jgv1.1.a.b.c",
        "jgv1.1.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert!(bad.parse::<SealedSecret>().is_err(), "{bad:?} parsed");
    }
    let json = serde_json::to_string(&sealed);
    assert!(json.is_err() || json.unwrap().contains("jgv1.7."));
    assert!(
        !format!("{sealed:?}").contains(sealed.as_str()),
        "Debug is short"
    );
}

#[test]
fn secrets_do_not_leak_through_debug() {
    let dk = DataKey::generate();
    let plain = SecretString::from("very-secret-value".to_owned());
    let opened = dk
        .open(
            &ctx("o", "r", "f", 1),
            &dk.seal(&ctx("o", "r", "f", 1), &plain),
        )
        .unwrap();
    assert!(!format!("{opened:?}").contains("very-secret-value"));
    assert_eq!(format!("{dk:?}"), "DataKey(..)");
}
