//! Turning Jira answers into `data`: ADF rendered back to Markdown where people read it.

use jiragate_jira::adf::adf_to_markdown;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use serde::de::IgnoredAny;

use crate::paging::Key;
use crate::plan::Shape;

fn is_adf(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("doc")
}

/// Adds `<key>_markdown` next to an ADF value.
fn add_markdown(obj: &mut Value, adf_key: &str, md_key: &str) {
    let Some(doc) = obj.get(adf_key) else { return };
    if !is_adf(doc) {
        return;
    }
    let md = adf_to_markdown(doc);
    if let Some(map) = obj.as_object_mut() {
        map.insert(md_key.to_owned(), Value::String(md));
    }
}

/// Shapes one item (a page item, or the whole answer of an unpaged action).
pub(crate) fn item(shape: &Shape, mut v: Value) -> Value {
    match shape {
        Shape::Issue => {
            if let Some(doc) = v.pointer("/fields/description").filter(|d| is_adf(d)) {
                let md = adf_to_markdown(doc);
                if let Some(map) = v.as_object_mut() {
                    map.insert("description_markdown".into(), Value::String(md));
                }
            }
            v
        }
        Shape::Comment => {
            add_markdown(&mut v, "body", "body_markdown");
            add_markdown(&mut v, "comment", "comment_markdown");
            v
        }
        Shape::Pick(pointer) => v.pointer(pointer).cloned().unwrap_or(Value::Null),
        Shape::Ack => {
            if v.is_null() {
                json!({"ok": true})
            } else {
                v
            }
        }
        Shape::Raw | Shape::Binary | Shape::ResolveFields(_) => v,
    }
}

/// [`item`] on JSON text, appending the shaped item's JSON text to `out`: the text Jira sent
/// passes through as is, and only what the shape needs is parsed (for an issue, the ADF
/// description; nothing for `Raw`). Fails only when `text` is not JSON.
pub(crate) fn item_text(shape: &Shape, text: &str, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match shape {
        Shape::Raw | Shape::Binary | Shape::ResolveFields(_) => {
            let raw: &RawValue = serde_json::from_str(text)?;
            out.extend_from_slice(raw.get().as_bytes());
            Ok(())
        }
        Shape::Issue if issue_text(text, out) => Ok(()),
        _ => {
            let v: Value = serde_json::from_str(text)?;
            serde_json::to_writer(out, &item(shape, v))
        }
    }
}

/// An issue's text with `description_markdown` appended when the description is ADF (as
/// [`item`] adds it: the last member of the object). `false` (nothing written) when the text
/// is not an object of the usual form, or already has a `description_markdown` member; the
/// caller then shapes a parsed value instead.
fn issue_text(text: &str, out: &mut Vec<u8>) -> bool {
    let Ok(parts) = serde_json::from_str::<IssueParts<'_>>(text) else {
        return false;
    };
    if parts.has_markdown {
        return false;
    }
    let markdown = match parts.description {
        Some(d) if d.get().starts_with('{') => {
            let Ok(doc) = serde_json::from_str::<Value>(d.get()) else {
                return false;
            };
            is_adf(&doc).then(|| adf_to_markdown(&doc))
        }
        _ => None,
    };
    let raw = text.trim();
    match markdown {
        None => out.extend_from_slice(raw.as_bytes()),
        Some(md) => {
            // The object is not empty (it holds `fields`), so a member follows a comma.
            let Some(members) = raw.strip_suffix('}') else {
                return false;
            };
            out.extend_from_slice(members.as_bytes());
            out.extend_from_slice(b",\"description_markdown\":");
            if serde_json::to_writer(&mut *out, &md).is_err() {
                return false;
            }
            out.push(b'}');
        }
    }
    true
}

/// What [`issue_text`] needs of an issue's text, read in one pass without building values:
/// whether it already has a `description_markdown` member, and its `fields.description`
/// (unparsed). With repeated keys the value parser keeps the last one: so does this.
struct IssueParts<'a> {
    has_markdown: bool,
    description: Option<&'a RawValue>,
}

impl<'de> serde::Deserialize<'de> for IssueParts<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Top;
        impl<'de> serde::de::Visitor<'de> for Top {
            type Value = IssueParts<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an issue object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut parts = IssueParts {
                    has_markdown: false,
                    description: None,
                };
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    match key.as_ref() {
                        "description_markdown" => {
                            parts.has_markdown = true;
                            map.next_value::<IgnoredAny>()?;
                        }
                        "fields" => parts.description = map.next_value::<Description<'de>>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(parts)
            }
        }
        d.deserialize_map(Top)
    }
}

/// The `description` member of an issue's `fields`, if `fields` is an object that has one.
struct Description<'a>(Option<&'a RawValue>);

impl<'de> serde::Deserialize<'de> for Description<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = Description<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut description = None;
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    if key == "description" {
                        description = Some(map.next_value::<&'de RawValue>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Description(description))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Description(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Description(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Description(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Description(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Description(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Description(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Description(None))
            }
        }
        d.deserialize_any(Fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_get_description_markdown() {
        let adf = jiragate_jira::adf::markdown_to_adf("Some **bold** text");
        let v = item(
            &Shape::Issue,
            json!({"key": "A-1", "fields": {"description": adf}}),
        );
        assert!(
            v["description_markdown"]
                .as_str()
                .unwrap()
                .contains("**bold**")
        );
        let v = item(
            &Shape::Issue,
            json!({"key": "A-1", "fields": {"description": null}}),
        );
        assert!(v.get("description_markdown").is_none());
    }

    #[test]
    fn comments_and_worklogs_get_markdown() {
        let adf = jiragate_jira::adf::markdown_to_adf("hello");
        let v = item(
            &Shape::Comment,
            json!({"body": adf.clone(), "comment": adf}),
        );
        assert_eq!(v["body_markdown"].as_str().unwrap().trim(), "hello");
        assert_eq!(v["comment_markdown"].as_str().unwrap().trim(), "hello");
    }

    /// The text path answers what the value path answers, for every shape and for answers of
    /// unusual form (no fields, non-ADF descriptions, a member already named
    /// `description_markdown`, escapes, repeated keys, whitespace).
    #[test]
    fn text_shaping_matches_value_shaping() {
        let adf = jiragate_jira::adf::markdown_to_adf("Some **bold** text with \"quotes\"");
        let adf_text = serde_json::to_string(&adf).unwrap();
        let issues = [
            format!(r#"{{"key":"A-1","fields":{{"summary":"x","description":{adf_text}}}}}"#),
            format!(
                r#" {{ "key" : "A-\u00e9" , "fields" : {{ "description" : {adf_text} , "n": 1.5 }} }} "#
            ),
            r#"{"key":"A-1","fields":{"description":null}}"#.to_owned(),
            r#"{"key":"A-1","fields":{"description":"plain text"}}"#.to_owned(),
            r#"{"key":"A-1","fields":{"description":{"type":"paragraph"}}}"#.to_owned(),
            r#"{"key":"A-1","fields":"odd"}"#.to_owned(),
            r#"{"key":"A-1","fields":[1,{"description":2}],"n":[true,null,-1]}"#.to_owned(),
            format!(r#"{{"key":"A-1","fi\u0065lds":{{"descr\u0069ption":{adf_text}}}}}"#),
            r#"{"key":"A-1"}"#.to_owned(),
            r#"{}"#.to_owned(),
            r#"[1,2]"#.to_owned(),
            r#"null"#.to_owned(),
            format!(r#"{{"description_markdown":"mine","fields":{{"description":{adf_text}}}}}"#),
            format!(
                r#"{{"fields":{{"description":"old"}},"key":"A-1","fields":{{"description":{adf_text}}}}}"#
            ),
            format!(
                r#"{{"fields":{{"description":{adf_text},"description":"later"}},"key":"A-1"}}"#
            ),
        ];
        let comment = format!(r#"{{"id":"1","body":{adf_text},"comment":{adf_text}}}"#);
        let mut cases: Vec<(Shape, String)> =
            issues.iter().map(|t| (Shape::Issue, t.clone())).collect();
        for text in issues.iter().chain([&comment]) {
            for shape in [
                Shape::Raw,
                Shape::Comment,
                Shape::Pick("/fields/description"),
                Shape::Ack,
            ] {
                cases.push((shape, text.clone()));
            }
        }
        for (shape, text) in cases {
            let expected = item(&shape, serde_json::from_str(&text).unwrap());
            let mut out = Vec::new();
            item_text(&shape, &text, &mut out).unwrap();
            let got: Value = serde_json::from_slice(&out)
                .unwrap_or_else(|e| panic!("{shape:?} {text}: not JSON ({e})"));
            assert_eq!(got, expected, "{shape:?} {text}");
            // Members in the same order as the value path's (`description_markdown` last).
            assert_eq!(
                got.as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>()),
                expected
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>()),
                "{shape:?} {text}"
            );
        }
        let mut out = Vec::new();
        assert!(item_text(&Shape::Issue, "{not json", &mut out).is_err());
        assert!(item_text(&Shape::Raw, "[1,", &mut out).is_err());
    }

    #[test]
    fn pick_and_ack() {
        assert_eq!(
            item(&Shape::Pick("/a/b"), json!({"a": {"b": [1]}})),
            json!([1])
        );
        assert_eq!(item(&Shape::Ack, Value::Null), json!({"ok": true}));
    }
}
