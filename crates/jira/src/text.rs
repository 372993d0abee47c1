//! Rules for untrusted text: how much of it an error may quote, which characters a name or a
//! path may never hold, and what a name is.

/// How much of an input an error message quotes.
pub const QUOTE_LIMIT: usize = 200;

/// `input` as it may appear in an error text: debug-quoted (control characters escaped) and
/// cut after [`QUOTE_LIMIT`] characters, so an error never echoes a megabyte back.
pub fn quote(input: &str) -> String {
    let count = input.chars().count();
    if count <= QUOTE_LIMIT {
        return format!("{input:?}");
    }
    let head: String = input.chars().take(QUOTE_LIMIT).collect();
    format!("{head:?}… ({count} characters)")
}

/// True for characters that must never appear in a name or a path: C0/C1 controls, DEL, and
/// Unicode format characters that reorder or hide text (bidi overrides, zero-width marks).
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{061C}' // Arabic letter mark
            | '\u{FEFF}' // BOM / zero-width no-break space
        )
}

/// Longest name (characters) of a connection, workspace, organization or key.
pub const MAX_NAME_LEN: usize = 200;

/// A name refused by [`check_name`]; `field` is the caller's field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {message}")]
pub struct NameError {
    pub field: String,
    pub message: String,
}

/// Trims and checks a name: 1 to 200 characters, no `/` (names form `workspace/name`), no
/// control characters, ANSI escapes, bidi overrides or zero-width characters (log and
/// terminal injection, look-alike names).
pub fn check_name(field: &str, value: &str) -> Result<String, NameError> {
    let err = |message: String| NameError {
        field: field.to_owned(),
        message,
    };
    // Checked before trimming: `trim` would silently drop a trailing NEL (U+0085) or newline.
    if let Some(c) = value.chars().find(|c| is_forbidden_char(*c)) {
        return Err(err(format!(
            "{} contains the control or formatting character U+{:04X}; use visible characters only",
            quote(value),
            c as u32
        )));
    }
    let v = value.trim();
    if v.is_empty() {
        return Err(err("must not be empty".to_owned()));
    }
    let count = v.chars().count();
    if count > MAX_NAME_LEN {
        return Err(err(format!(
            "is {count} characters long; at most {MAX_NAME_LEN}"
        )));
    }
    if v.contains('/') {
        return Err(err(format!("{} must not contain `/`", quote(v))));
    }
    Ok(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_controls_bidi_and_slashes() {
        assert_eq!(check_name("name", "  jira prod ").unwrap(), "jira prod");
        assert_eq!(check_name("name", "Jira 日本").unwrap(), "Jira 日本");
        for bad in [
            "",
            "   ",
            "a/b",
            "nul\0x",
            "esc\u{1b}[31mred",
            "bell\u{7}",
            "c1\u{85}x",
            "trailing-nel\u{85}",
            "rtl\u{202e}gpj.exe",
            "iso\u{2066}x",
            "zw\u{200b}sp",
            "bom\u{feff}",
            "nl\nx",
            "tab\tx",
        ] {
            assert!(check_name("name", bad).is_err(), "{bad:?} accepted");
        }
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            check_name("workspace", &long).unwrap_err().field,
            "workspace"
        );
    }

    #[test]
    fn quotes_are_bounded() {
        let q = quote(&"é".repeat(1_000_000));
        assert!(q.chars().count() < QUOTE_LIMIT + 40);
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
    }
}
