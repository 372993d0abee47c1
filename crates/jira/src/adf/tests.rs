use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn doc(content: Value) -> Value {
    json!({"type": "doc", "version": 1, "content": content})
}

fn p(content: Value) -> Value {
    json!({"type": "paragraph", "content": content})
}

fn t(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

fn tm(text: &str, marks: &[&str]) -> Value {
    let marks: Vec<Value> = marks.iter().map(|m| json!({"type": m})).collect();
    json!({"type": "text", "text": text, "marks": marks})
}

/// md -> adf -> md -> adf must give the same ADF.
fn assert_round_trip(md: &str) -> Value {
    let adf = markdown_to_adf(md);
    let md2 = adf_to_markdown(&adf);
    let adf2 = markdown_to_adf(&md2);
    assert_eq!(
        adf, adf2,
        "round trip changed the document\n--- input ---\n{md}\n--- rendered ---\n{md2}\n"
    );
    adf
}

#[test]
fn converts_each_construct() {
    let cases: Vec<(&str, Value)> = vec![
        ("hello world", doc(json!([p(json!([t("hello world")]))]))),
        (
            "first\n\nsecond",
            doc(json!([p(json!([t("first")])), p(json!([t("second")]))])),
        ),
        (
            "line one\nline two",
            doc(json!([p(
                json!([t("line one"), {"type": "hardBreak"}, t("line two")])
            )])),
        ),
        (
            "## Title",
            doc(json!([{"type": "heading", "attrs": {"level": 2}, "content": [t("Title")]}])),
        ),
        (
            "a **b** *c* ~~d~~ `e`",
            doc(json!([p(json!([
                t("a "),
                tm("b", &["strong"]),
                t(" "),
                tm("c", &["em"]),
                t(" "),
                tm("d", &["strike"]),
                t(" "),
                tm("e", &["code"])
            ]))])),
        ),
        (
            "see [docs](https://example.com/x?a=1)",
            doc(json!([p(json!([
                t("see "),
                {"type": "text", "text": "docs", "marks": [{"type": "link", "attrs": {"href": "https://example.com/x?a=1"}}]}
            ]))])),
        ),
        (
            "ping @[Ada Lovelace](accountid:5b10ac8d82e05b22cc7d4ef5) now",
            doc(json!([p(json!([
                t("ping "),
                {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Ada Lovelace"}},
                t(" now")
            ]))])),
        ),
        (
            "- one\n- two\n  1. nested",
            doc(json!([{"type": "bulletList", "content": [
                {"type": "listItem", "content": [p(json!([t("one")]))]},
                {"type": "listItem", "content": [
                    p(json!([t("two")])),
                    {"type": "orderedList", "content": [
                        {"type": "listItem", "content": [p(json!([t("nested")]))]}
                    ]}
                ]}
            ]}])),
        ),
        (
            "3. three\n4. four",
            doc(
                json!([{"type": "orderedList", "attrs": {"order": 3}, "content": [
                    {"type": "listItem", "content": [p(json!([t("three")]))]},
                    {"type": "listItem", "content": [p(json!([t("four")]))]}
                ]}]),
            ),
        ),
        (
            "```rust\nfn main() {}\n```",
            doc(
                json!([{"type": "codeBlock", "attrs": {"language": "rust"}, "content": [t("fn main() {}")]}]),
            ),
        ),
        (
            "> quoted",
            doc(json!([{"type": "blockquote", "content": [p(json!([t("quoted")]))]}])),
        ),
        ("---", doc(json!([{"type": "rule"}]))),
        (
            "| h1 | h2 |\n| --- | --- |\n| a | **b** |",
            doc(json!([{"type": "table", "content": [
                {"type": "tableRow", "content": [
                    {"type": "tableHeader", "content": [p(json!([t("h1")]))]},
                    {"type": "tableHeader", "content": [p(json!([t("h2")]))]}
                ]},
                {"type": "tableRow", "content": [
                    {"type": "tableCell", "content": [p(json!([t("a")]))]},
                    {"type": "tableCell", "content": [p(json!([tm("b", &["strong"])]))]}
                ]}
            ]}])),
        ),
    ];
    for (md, expected) in cases {
        let adf = assert_round_trip(md);
        assert_eq!(adf, expected, "markdown: {md}");
    }
}

#[test]
fn round_trips_tricky_text() {
    for md in [
        "*emphasis* and **strong** and ***both***",
        "**bold with *nested em* inside**",
        "text with \\*literal stars\\* and \\_underscores\\_ and a \\| pipe",
        "1\\. not a list",
        "\\# not a heading",
        "\\- not a bullet",
        "a `code with | pipe` and ``double `tick` code``",
        "[**bold link**](http://x.test/a_b) after",
        "[link with spaces](<http://x.test/a b>)",
        "- a\n- b\n\n* c\n* d",
        "1. a\n2. b\n\n1) c",
        "> quote\n>\n> - item\n>\n> ```\n> code\n> ```",
        "- item\n\n  ```sh\n  echo hi\n  ```",
        "| a | b |\n| --- | --- |\n| `x|y` | c<br>d |",
        "AT&amp;T &copy; & friends",
        "mail me @ home, or @[Bob \\[ops\\]](accountid:557058:f58131cb-b67d)",
        "````\ncode with ``` inside\n````",
        "# Heading with `code` and *em*",
        "line\\\nbreak",
        "   indented three",
        "- \n- b",
    ] {
        assert_round_trip(md);
    }
}

#[test]
fn renders_readable_markdown() {
    let md = "# Title\n\nSome **bold** and *em* text with [a link](https://x.test).\n\n- one\n- two\n\n```js\nlet x = 1;\n```";
    assert_eq!(adf_to_markdown(&markdown_to_adf(md)), md);
}

#[test]
fn unknown_nodes_become_their_text() {
    let adf = doc(json!([
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [p(json!([t("inside panel")]))]},
        p(json!([
            {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
            t(" "),
            {"type": "status", "attrs": {"text": "IN PROGRESS", "color": "blue"}},
            t(" "),
            {"type": "inlineCard", "attrs": {"url": "https://x.test/browse/A-1"}},
            t(" "),
            {"type": "date", "attrs": {"timestamp": "1700000000000"}},
            {"type": "text", "text": "u", "marks": [{"type": "underline"}]}
        ])),
        {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x", "type": "file"}}]},
        {"type": "somethingNew", "attrs": {"text": "future text"}}
    ]));
    let md = adf_to_markdown(&adf);
    assert_eq!(
        md,
        "inside panel\n\n😄 IN PROGRESS [https://x.test/browse/A-1](https://x.test/browse/A-1) 2023-11-14u\n\nfuture text"
    );
}

#[test]
fn plain_text_and_strings() {
    assert_eq!(adf_to_markdown(&json!("just text")), "just text");
    assert_eq!(adf_to_markdown(&Value::Null), "");
    assert_eq!(
        plain_text_to_adf("a *b*\nc\n\nd"),
        doc(json!([
            p(json!([t("a *b*"), {"type": "hardBreak"}, t("c")])),
            p(json!([t("d")]))
        ]))
    );
    assert_eq!(markdown_to_adf(""), doc(json!([])));
}

#[test]
fn code_mark_keeps_only_link() {
    let adf = markdown_to_adf("**`x`**");
    assert_eq!(adf, doc(json!([p(json!([tm("x", &["code"])]))])));
}

// ---- property test: generated Markdown documents survive md -> adf -> md -> adf ----

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z0-9]{1,8}",
        1 => prop::sample::select(vec![
            "*", "_", "`", "[", "]", "#", "|", "~", "<", ">", "&", "!", "-", "+", "\\", "1.", "a_b", "(x)", "&amp;",
        ]).prop_map(str::to_owned),
    ]
}

fn phrase() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..5).prop_map(|w| w.join(" "))
}

fn inline() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => phrase(),
        1 => "[a-z]{1,6}".prop_map(|w| format!("`{w}`")),
        1 => ("[A-Z][a-z]{1,6}", "[0-9a-f]{6,12}").prop_map(|(n, id)| format!("@[{n}](accountid:{id})")),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|s| format!("**{s}**")),
            inner.clone().prop_map(|s| format!("*{s}*")),
            inner.clone().prop_map(|s| format!("~~{s}~~")),
            ("[a-z]{1,8}", "[a-z]{1,6}")
                .prop_map(|(text, path)| format!("[{text}](https://x.test/{path})")),
            prop::collection::vec(inner, 2..4).prop_map(|parts| parts.join(" ")),
        ]
    })
}

fn paragraph() -> impl Strategy<Value = String> {
    prop::collection::vec(inline(), 1..3).prop_map(|lines| lines.join("\n"))
}

fn block() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => paragraph(),
        1 => (1usize..=6, phrase()).prop_map(|(l, s)| format!("{} {s}", "#".repeat(l))),
        1 => (prop::sample::select(vec!["", "rust", "json"]), prop::collection::vec("[ -~]{0,20}", 1..4))
            .prop_map(|(lang, lines)| format!("```{lang}\n{}\n```", lines.join("\n").replace('`', "'"))),
        1 => Just("---".to_owned()),
        1 => (1usize..4, 1usize..4).prop_flat_map(|(cols, rows)| {
            prop::collection::vec(phrase(), cols * (rows + 1)).prop_map(move |cells| {
                let mut out = Vec::new();
                for (r, row) in cells.chunks(cols).enumerate() {
                    out.push(format!("| {} |", row.join(" | ").replace('|', "\\|")));
                    if r == 0 {
                        out.push(format!("|{}", " --- |".repeat(cols)));
                    }
                }
                out.join("\n")
            })
        }),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 1..4), any::<bool>()).prop_map(
                |(items, ordered)| {
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let marker = if ordered {
                                format!("{}. ", i + 1)
                            } else {
                                "- ".to_owned()
                            };
                            let indent = " ".repeat(marker.len());
                            let body = item.replace('\n', &format!("\n{indent}"));
                            format!("{marker}{body}")
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            ),
            inner.prop_map(|b| b
                .lines()
                .map(|l| format!("> {l}"))
                .collect::<Vec<_>>()
                .join("\n")),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(block(), 1..5).prop_map(|blocks| blocks.join("\n\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents_round_trip(md in document()) {
        let adf = markdown_to_adf(&md);
        let md2 = adf_to_markdown(&adf);
        let adf2 = markdown_to_adf(&md2);
        prop_assert_eq!(&adf, &adf2, "\n--- input ---\n{}\n--- rendered ---\n{}\n", md, md2);
    }

    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let adf = markdown_to_adf(&s);
        let _ = adf_to_markdown(&adf);
    }
}
