//! Markdown ↔ Atlassian Document Format (ADF, the JSON rich-text format of Jira v3 bodies).
//!
//! Supported both ways: paragraphs, headings, strong/em/strike/code marks, links, bullet and
//! ordered lists (nested), code blocks with language, block quotes, rules, tables, hard breaks,
//! and mentions written `@[Display Name](accountid:ID)`. Plain text is valid Markdown, so it
//! becomes paragraphs; single line breaks are kept as hard breaks (what people mean in Jira).
//! ADF nodes without a Markdown form become their text.

mod from_markdown;
mod to_markdown;

pub use from_markdown::markdown_to_adf;
pub use to_markdown::adf_to_markdown;

/// The link scheme that marks a mention in Markdown: `@[Name](accountid:ID)`.
pub const MENTION_SCHEME: &str = "accountid:";

/// A paragraph-only document from plain text (no Markdown interpretation at all).
pub fn plain_text_to_adf(text: &str) -> serde_json::Value {
    let mut paragraphs = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut content = Vec::new();
        for (i, line) in block.lines().enumerate() {
            if i > 0 {
                content.push(serde_json::json!({"type": "hardBreak"}));
            }
            if !line.is_empty() {
                content.push(serde_json::json!({"type": "text", "text": line}));
            }
        }
        paragraphs.push(serde_json::json!({"type": "paragraph", "content": content}));
    }
    serde_json::json!({"type": "doc", "version": 1, "content": paragraphs})
}

#[cfg(test)]
mod tests;
