//! Deterministic derivation of seeded data. Every seeded value is a pure function of the
//! simulator seed and a few indices, so a 100k-issue site costs one compact row per issue
//! and the text (summaries, descriptions, comments) is produced only when a response needs it.

/// SplitMix64 finaliser: a cheap, well-mixed 64-bit hash step.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of the seed and a path of indices.
pub fn hash(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(mix(seed), |h, p| {
        mix(h ^ p.wrapping_mul(0xD6E8_FEB8_6659_FD93))
    })
}

/// Hash of a string (FNV-1a), for mixing names into seeds.
pub fn str_hash(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// Picks an element deterministically.
pub fn pick<T: Copy>(items: &[T], h: u64) -> T {
    items[(h % items.len() as u64) as usize]
}

/// `n` lowercase hex digits derived from `h`.
pub fn hex(h: u64, n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut x = h;
    for i in 0..n {
        if i % 16 == 0 && i > 0 {
            x = mix(x);
        }
        out.push(char::from_digit(((x >> ((i % 16) * 4)) & 0xF) as u32, 16).unwrap_or('0'));
    }
    out
}

/// `n` characters of `[A-Za-z0-9]` derived from `h`.
pub fn alnum(h: u64, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    let mut x = h;
    for _ in 0..n {
        x = mix(x);
        out.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
    }
    out
}

/// A UUID-shaped string derived from `h`.
pub fn uuid_like(h: u64) -> String {
    let s = hex(h, 32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &s[0..8],
        &s[8..12],
        &s[13..16],
        &s[17..20],
        &s[20..32]
    )
}

const VERBS: &[&str] = &[
    "Fix",
    "Add",
    "Improve",
    "Refactor",
    "Investigate",
    "Update",
    "Remove",
    "Document",
    "Support",
    "Migrate",
    "Speed up",
    "Harden",
];
const OBJECTS: &[&str] = &[
    "login flow",
    "billing export",
    "search results",
    "dashboard widgets",
    "API rate limiting",
    "user onboarding",
    "notification emails",
    "audit log",
    "mobile layout",
    "SSO settings",
    "report builder",
    "data import",
    "invoice PDF",
    "webhook retries",
    "password reset",
    "CSV upload",
];
const SUFFIXES: &[&str] = &[
    "for enterprise customers",
    "on Safari",
    "after the upgrade",
    "in staging",
    "for new tenants",
    "in the EU region",
    "under load",
    "for admins",
    "",
    "",
];
const HELP_SUBJECTS: &[&str] = &[
    "Laptop does not boot",
    "Need access to the VPN",
    "Request a new monitor",
    "Email not syncing on phone",
    "Printer on floor 3 jams",
    "Reset my password",
    "Install design software",
    "Wi-Fi drops in meeting room",
];
const COMMENTS: &[&str] = &[
    "I can reproduce this on the latest build.",
    "Looks good to me, moving on.",
    "Could we add a test for this case?",
    "Blocked until the release branch is cut.",
    "Customer confirmed the workaround helps.",
    "Picked this up, will report back tomorrow.",
];

pub fn summary(h: u64, help_desk: bool, epic: bool) -> String {
    if help_desk {
        return pick(HELP_SUBJECTS, h).to_owned();
    }
    let object = pick(OBJECTS, h >> 8);
    if epic {
        let mut o = object.to_owned();
        if let Some(first) = o.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        return format!("{o} overhaul");
    }
    let suffix = pick(SUFFIXES, h >> 16);
    let verb = pick(VERBS, h);
    if suffix.is_empty() {
        format!("{verb} {object}")
    } else {
        format!("{verb} {object} {suffix}")
    }
}

pub fn comment_text(h: u64) -> &'static str {
    pick(COMMENTS, h)
}

/// A single-paragraph ADF document.
pub fn adf_paragraph(text: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]
    })
}

/// Plain text of an ADF document (text nodes joined; paragraphs separated by newlines).
pub fn adf_text(doc: &serde_json::Value) -> String {
    fn walk(v: &serde_json::Value, out: &mut String) {
        if let Some(t) = v.get("text").and_then(|t| t.as_str()) {
            out.push_str(t);
        }
        if let Some(children) = v.get("content").and_then(|c| c.as_array()) {
            for c in children {
                walk(c, out);
            }
            if matches!(
                v.get("type").and_then(|t| t.as_str()),
                Some("paragraph" | "heading")
            ) {
                out.push('\n');
            }
        }
    }
    match doc {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => {
            let mut out = String::new();
            walk(other, &mut out);
            out.trim_end().to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_stable_and_shaped() {
        assert_eq!(hash(1, &[2, 3]), hash(1, &[2, 3]));
        assert_ne!(hash(1, &[2, 3]), hash(2, &[2, 3]));
        assert_eq!(hex(7, 24).len(), 24);
        assert_eq!(alnum(7, 40).len(), 40);
        let u = uuid_like(9);
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert!(!summary(5, false, false).is_empty());
        let doc = adf_paragraph("hello world");
        assert_eq!(adf_text(&doc), "hello world");
    }
}
