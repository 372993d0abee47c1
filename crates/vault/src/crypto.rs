//! Small shared primitives: AES-256-GCM with OS-random nonces, HKDF derivation, and an
//! unambiguous AAD encoding.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use hkdf::Hkdf;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use zeroize::Zeroizing;

pub(crate) const KEY_LEN: usize = 32;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// Fills a buffer from the operating system's CSPRNG.
///
/// An OS RNG failure means the machine cannot do cryptography at all; there is no safe
/// fallback (a predictable nonce or key would be worse than stopping), so this panics.
pub(crate) fn os_random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    #[allow(clippy::expect_used)]
    OsRng
        .try_fill_bytes(&mut out)
        .expect("operating system random number generator failed");
    out
}

pub(crate) fn random_key() -> Zeroizing<[u8; KEY_LEN]> {
    Zeroizing::new(os_random::<KEY_LEN>())
}

pub(crate) fn cipher(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

/// HKDF-SHA256 expansion of `ikm` under a fixed, purpose-specific `info` label.
pub(crate) fn derive(ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
    let hk = Hkdf::<Sha256>::new(Some(b"jiragate-vault"), ikm);
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    // 32 bytes is far below HKDF-SHA256's 255*32 limit, so expand cannot fail.
    #[allow(clippy::expect_used)]
    hk.expand(info, out.as_mut_slice())
        .expect("HKDF output length is valid");
    out
}

/// Encrypts with a fresh random nonce; returns (nonce, ciphertext || tag).
pub(crate) fn seal(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> ([u8; NONCE_LEN], Vec<u8>) {
    let nonce = os_random::<NONCE_LEN>();
    // Encryption only fails for inputs beyond GCM's 64 GiB limit, which never reach here.
    #[allow(clippy::expect_used)]
    let ct = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption of a bounded message");
    (nonce, ct)
}

/// Decrypts and authenticates; the plaintext is returned in a zeroizing buffer.
pub(crate) fn open(
    cipher: &Aes256Gcm,
    aad: &[u8],
    nonce: &[u8; NONCE_LEN],
    ciphertext: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    cipher
        .decrypt(
            &(*nonce).into(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

/// Builds associated data as a label followed by length-prefixed fields, so that no two
/// different field tuples can produce the same bytes (e.g. ("ab","c") vs ("a","bc")).
pub(crate) fn aad(label: &str, fields: &[&[u8]]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(label.len() + fields.iter().map(|f| f.len() + 4).sum::<usize>());
    out.extend_from_slice(label.as_bytes());
    for f in fields {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_encoding_is_unambiguous() {
        assert_ne!(aad("x", &[b"ab", b"c"]), aad("x", &[b"a", b"bc"]));
        assert_ne!(aad("x", &[b"", b"a"]), aad("x", &[b"a", b""]));
    }

    #[test]
    fn derive_separates_purposes() {
        let k = [7u8; 32];
        assert_ne!(*derive(&k, b"a"), *derive(&k, b"b"));
        assert_eq!(*derive(&k, b"a"), *derive(&k, b"a"));
    }
}
