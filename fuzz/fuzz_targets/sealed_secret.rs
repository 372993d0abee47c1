//! The vault's parsers of stored (untrusted) data: never panic, never open a forgery.
//!
//! The first input byte picks the mode:
//! - text: the rest as a sealed-secret string → `SealedSecret::parse_str` / `FromStr` /
//!   serde (`try_from = "String"`); whatever parses must fail to `DataKey::open` (also with
//!   the matching key version, so the AEAD path runs);
//! - framed: `jgv1.<u32>.<b64url(bytes)>.<b64url(bytes)>` built from the input, so parsing
//!   passes and `DataKey::open` authenticates arbitrary nonces and ciphertexts → must be Err;
//! - master: `MasterKey::from_base64` on the text; `verify_key_check` and `unwrap` of a
//!   `WrappedDataKey` with arbitrary bytes → must be Err;
//! - tamper: seal an arbitrary plaintext, check it opens, then overwrite one byte of the
//!   sealed text → must fail to parse, or fail to open, or open to the same plaintext.
#![no_main]

use std::sync::LazyLock;

use arbitrary::{Result, Unstructured};
use jiragate_vault::{
    DataKey, ExposeSecret, MasterKey, SEALED_PREFIX, SealContext, SealedSecret, SecretString,
    WrappedDataKey,
};
use libfuzzer_sys::fuzz_target;

/// 32 bytes (0x00..0x1f), standard base64.
const FIXED_MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

static DATA_KEY: LazyLock<DataKey> = LazyLock::new(DataKey::generate);
static MASTER_KEY: LazyLock<MasterKey> =
    LazyLock::new(|| MasterKey::from_base64(FIXED_MASTER_KEY).expect("fixed key is valid"));

fn ctx(key_version: u32) -> SealContext<'static> {
    SealContext {
        org_id: "org-fuzz",
        record_id: "conn-1",
        field: "api_token",
        key_version,
    }
}

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Every way of opening a parsed secret must fail: the fuzzer cannot forge AES-GCM.
fn must_not_open(sealed: &SealedSecret) {
    let _ = format!("{sealed:?} {sealed}");
    let version = sealed
        .key_version()
        .expect("key_version of a parsed sealed secret");
    for v in [version, version.wrapping_add(1)] {
        assert!(
            DATA_KEY.open(&ctx(v), sealed).is_err(),
            "a sealed secret the fuzzer made opened"
        );
    }
}

fn text_mode(text: &str) {
    let parsed = SealedSecret::parse_str(text);
    let from_str = text.parse::<SealedSecret>();
    let from_json = serde_json::from_value::<SealedSecret>(serde_json::Value::String(text.into()));
    assert_eq!(
        parsed.is_ok(),
        from_str.is_ok(),
        "parse_str and FromStr disagree"
    );
    assert_eq!(
        parsed.is_ok(),
        from_json.is_ok(),
        "parse_str and serde disagree"
    );
    if let Ok(sealed) = parsed {
        assert_eq!(sealed.as_str(), text);
        must_not_open(&sealed);
    }
}

fn framed_mode(u: &mut Unstructured) -> Result<()> {
    let version: u32 = u.arbitrary()?;
    let nonce_len = if u.ratio(3u8, 4u8)? {
        12
    } else {
        u.int_in_range(0..=20usize)?
    };
    let nonce = u.bytes(nonce_len.min(u.len()))?;
    let ct: &[u8] = u.arbitrary()?;
    let text = format!("{SEALED_PREFIX}.{version}.{}.{}", b64url(nonce), b64url(ct));
    match SealedSecret::parse_str(&text) {
        Ok(sealed) => must_not_open(&sealed),
        // Only the lengths can be wrong: 12-byte nonce, ciphertext at least the 16-byte tag.
        Err(_) => assert!(
            nonce.len() != 12 || ct.len() < 16,
            "well-formed text rejected: {text}"
        ),
    }
    Ok(())
}

fn master_mode(u: &mut Unstructured) -> Result<()> {
    let text: &str = u.arbitrary()?;
    let record: &[u8] = u.arbitrary()?;
    let org: &str = u.arbitrary()?;
    let version: u32 = u.arbitrary()?;
    if let Ok(key) = MasterKey::from_base64(text) {
        let _ = (format!("{key:?}"), key.key_id());
        let _ = key.verify_key_check(record);
    }
    assert!(
        MASTER_KEY.verify_key_check(record).is_err(),
        "forged key-check accepted"
    );
    let wrapped = WrappedDataKey {
        master_key_id: MASTER_KEY.key_id(),
        bytes: record.to_vec(),
    };
    assert!(
        MASTER_KEY.unwrap(&wrapped, org, version).is_err(),
        "forged data key unwrapped"
    );
    Ok(())
}

fn tamper_mode(u: &mut Unstructured) -> Result<()> {
    let plaintext: String = u.arbitrary()?;
    let version: u32 = u.arbitrary()?;
    let sealed = DATA_KEY.seal(&ctx(version), &SecretString::from(plaintext.clone()));
    let opened = DATA_KEY
        .open(&ctx(version), &sealed)
        .expect("fresh seal opens");
    assert_eq!(opened.expose_secret(), plaintext);

    let mut bytes = sealed.as_str().as_bytes().to_vec();
    let at = u.choose_index(bytes.len())?;
    bytes[at] = u.arbitrary()?;
    let Ok(text) = String::from_utf8(bytes) else {
        return Ok(());
    };
    if let Ok(tampered) = SealedSecret::parse_str(&text)
        && let Ok(secret) = DATA_KEY.open(&ctx(version), &tampered)
    {
        assert_eq!(
            secret.expose_secret(),
            plaintext,
            "tampered secret opened to other text"
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut u = Unstructured::new(rest);
    match mode % 4 {
        0 => text_mode(&String::from_utf8_lossy(rest)),
        1 => {
            let _ = framed_mode(&mut u);
        }
        2 => {
            let _ = master_mode(&mut u);
        }
        _ => {
            let _ = tamper_mode(&mut u);
        }
    }
});
