//! Markdown → ADF, driven by pulldown-cmark events.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde_json::{Map, Value, json};

use super::MENTION_SCHEME;

/// Converts Markdown (or plain text) to an ADF `doc`.
pub fn markdown_to_adf(md: &str) -> Value {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut builder = Builder::new();
    for event in Parser::new_ext(md, options) {
        builder.event(event);
    }
    builder.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Doc,
    /// `implicit`: opened by us to hold inline content in a container that only takes blocks
    /// (tight list items, table cells).
    Paragraph {
        implicit: bool,
    },
    Heading,
    BulletList,
    OrderedList,
    ListItem,
    CodeBlock,
    Blockquote,
    Table,
    TableRow,
    TableHeader,
    TableCell,
}

impl Kind {
    fn adf_type(self) -> &'static str {
        match self {
            Kind::Doc => "doc",
            Kind::Paragraph { .. } => "paragraph",
            Kind::Heading => "heading",
            Kind::BulletList => "bulletList",
            Kind::OrderedList => "orderedList",
            Kind::ListItem => "listItem",
            Kind::CodeBlock => "codeBlock",
            Kind::Blockquote => "blockquote",
            Kind::Table => "table",
            Kind::TableRow => "tableRow",
            Kind::TableHeader => "tableHeader",
            Kind::TableCell => "tableCell",
        }
    }

    fn takes_inline(self) -> bool {
        matches!(self, Kind::Paragraph { .. } | Kind::Heading)
    }

    /// ADF requires at least one block in these.
    fn needs_block(self) -> bool {
        matches!(self, Kind::ListItem | Kind::TableCell | Kind::TableHeader)
    }
}

struct Frame {
    kind: Kind,
    attrs: Option<Value>,
    children: Vec<Value>,
}

struct Mention {
    id: String,
    name: String,
}

struct Builder {
    stack: Vec<Frame>,
    /// Open marks, outermost first.
    marks: Vec<Value>,
    code_text: String,
    mention: Option<Mention>,
    in_table_head: bool,
}

/// Order in which marks are listed on a text node, so equal formatting gives equal JSON.
fn mark_rank(mark: &Value) -> u8 {
    match mark.get("type").and_then(Value::as_str) {
        Some("link") => 0,
        Some("strike") => 1,
        Some("strong") => 2,
        Some("em") => 3,
        Some("code") => 4,
        _ => 5,
    }
}

impl Builder {
    fn new() -> Self {
        Builder {
            stack: vec![Frame {
                kind: Kind::Doc,
                attrs: None,
                children: Vec::new(),
            }],
            marks: Vec::new(),
            code_text: String::new(),
            mention: None,
            in_table_head: false,
        }
    }

    fn top_kind(&self) -> Kind {
        self.stack.last().map_or(Kind::Doc, |f| f.kind)
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(end) => self.end(end),
            Event::Text(text) => self.text(&text),
            Event::Code(code) => self.code(&code),
            Event::InlineMath(t) | Event::DisplayMath(t) => self.text(&t),
            Event::Html(html) | Event::InlineHtml(html) => self.html(&html),
            Event::SoftBreak | Event::HardBreak => {
                if self.mention.is_some() {
                    self.text(" ");
                } else if self.top_kind() == Kind::Heading {
                    // Headings cannot hold breaks in Markdown; a space keeps words apart.
                    self.text(" ");
                } else {
                    self.push_inline(json!({"type": "hardBreak"}));
                }
            }
            Event::Rule => {
                self.close_implicit_paragraph();
                self.push_child(json!({"type": "rule"}));
            }
            Event::FootnoteReference(label) => self.text(&format!("[^{label}]")),
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => self.open(Kind::Paragraph { implicit: false }, None),
            Tag::Heading { level, .. } => {
                self.open(Kind::Heading, Some(json!({"level": level as u8})))
            }
            Tag::BlockQuote(_) => self.open(Kind::Blockquote, None),
            Tag::CodeBlock(kind) => {
                let attrs = match kind {
                    CodeBlockKind::Fenced(info) => {
                        let lang = info.split_whitespace().next().unwrap_or("");
                        (!lang.is_empty()).then(|| json!({"language": lang}))
                    }
                    CodeBlockKind::Indented => None,
                };
                self.code_text.clear();
                self.open(Kind::CodeBlock, attrs);
            }
            Tag::HtmlBlock => self.open(Kind::Paragraph { implicit: false }, None),
            Tag::List(Some(start)) => {
                let attrs = (start != 1).then(|| json!({"order": start}));
                self.open(Kind::OrderedList, attrs)
            }
            Tag::List(None) => self.open(Kind::BulletList, None),
            Tag::Item => self.open(Kind::ListItem, None),
            Tag::Table(_) => self.open(Kind::Table, None),
            Tag::TableHead => {
                self.in_table_head = true;
                self.open(Kind::TableRow, None)
            }
            Tag::TableRow => self.open(Kind::TableRow, None),
            Tag::TableCell => {
                let kind = if self.in_table_head {
                    Kind::TableHeader
                } else {
                    Kind::TableCell
                };
                self.open(kind, None)
            }
            Tag::Emphasis => self.marks.push(json!({"type": "em"})),
            Tag::Strong => self.marks.push(json!({"type": "strong"})),
            Tag::Strikethrough => self.marks.push(json!({"type": "strike"})),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                if let Some(id) = dest_url.strip_prefix(MENTION_SCHEME) {
                    self.strip_trailing_at();
                    self.mention = Some(Mention {
                        id: id.to_owned(),
                        name: String::new(),
                    });
                } else {
                    self.marks
                        .push(json!({"type": "link", "attrs": {"href": dest_url.as_ref()}}));
                }
            }
            // Containers without an ADF equivalent: their content flows into the parent.
            Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::Superscript
            | Tag::Subscript
            | Tag::MetadataBlock(_) => {}
        }
    }

    fn end(&mut self, end: TagEnd) {
        match end {
            TagEnd::Paragraph
            | TagEnd::Heading(_)
            | TagEnd::BlockQuote(_)
            | TagEnd::HtmlBlock
            | TagEnd::List(_)
            | TagEnd::Item
            | TagEnd::Table
            | TagEnd::TableRow
            | TagEnd::TableCell => self.close(),
            TagEnd::TableHead => {
                self.close();
                self.in_table_head = false;
            }
            TagEnd::CodeBlock => {
                let mut code = std::mem::take(&mut self.code_text);
                if code.ends_with('\n') {
                    code.pop();
                }
                if !code.is_empty()
                    && let Some(frame) = self.stack.last_mut()
                {
                    frame.children.push(json!({"type": "text", "text": code}));
                }
                self.close();
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.marks.pop();
            }
            TagEnd::Link | TagEnd::Image => {
                if let Some(m) = self.mention.take() {
                    let name = m.name.trim().trim_start_matches('@').to_owned();
                    self.push_inline(json!({
                        "type": "mention",
                        "attrs": {"id": m.id, "text": format!("@{name}")}
                    }));
                } else {
                    self.marks.pop();
                }
            }
            TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::MetadataBlock(_) => {}
        }
    }

    fn open(&mut self, kind: Kind, attrs: Option<Value>) {
        self.close_implicit_paragraph();
        self.stack.push(Frame {
            kind,
            attrs,
            children: Vec::new(),
        });
    }

    /// Pops the top frame (closing an implicit paragraph first) into its parent.
    fn close(&mut self) {
        self.close_implicit_paragraph();
        self.pop_frame();
    }

    fn close_implicit_paragraph(&mut self) {
        if self.top_kind() == (Kind::Paragraph { implicit: true }) {
            self.pop_frame();
        }
    }

    fn pop_frame(&mut self) {
        if self.stack.len() <= 1 {
            return;
        }
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let node = frame_to_node(frame);
        self.push_child(node);
    }

    fn push_child(&mut self, node: Value) {
        if let Some(parent) = self.stack.last_mut() {
            parent.children.push(node);
        }
    }

    fn ensure_inline_container(&mut self) {
        if !self.top_kind().takes_inline() {
            self.stack.push(Frame {
                kind: Kind::Paragraph { implicit: true },
                attrs: None,
                children: Vec::new(),
            });
        }
    }

    fn push_inline(&mut self, node: Value) {
        self.ensure_inline_container();
        let Some(frame) = self.stack.last_mut() else {
            return;
        };
        // Adjacent text with identical marks is one node (the parser splits at escapes).
        if node.get("type").and_then(Value::as_str) == Some("text")
            && let Some(last) = frame.children.last_mut()
            && last.get("type").and_then(Value::as_str) == Some("text")
            && last.get("marks") == node.get("marks")
            && let (Some(Value::String(prev)), Some(Value::String(add))) =
                (last.get_mut("text").map(Value::take), node.get("text"))
        {
            last["text"] = Value::String(prev + add);
            return;
        }
        frame.children.push(node);
    }

    fn text(&mut self, text: &str) {
        if self.top_kind() == Kind::CodeBlock {
            self.code_text.push_str(text);
            return;
        }
        if let Some(m) = self.mention.as_mut() {
            m.name.push_str(text);
            return;
        }
        if text.is_empty() {
            return;
        }
        let node = text_node(text, self.marks.clone());
        self.push_inline(node);
    }

    fn code(&mut self, code: &str) {
        if let Some(m) = self.mention.as_mut() {
            m.name.push_str(code);
            return;
        }
        // ADF allows `code` together with `link` only.
        let mut marks: Vec<Value> = self
            .marks
            .iter()
            .filter(|m| m.get("type").and_then(Value::as_str) == Some("link"))
            .cloned()
            .collect();
        marks.push(json!({"type": "code"}));
        self.push_inline(text_node(code, marks));
    }

    fn html(&mut self, html: &str) {
        if self.top_kind() == Kind::CodeBlock {
            self.code_text.push_str(html);
            return;
        }
        let trimmed = html.trim();
        if matches!(
            trimmed.to_ascii_lowercase().as_str(),
            "<br>" | "<br/>" | "<br />"
        ) {
            self.push_inline(json!({"type": "hardBreak"}));
            return;
        }
        let text = html.strip_suffix('\n').unwrap_or(html);
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                self.push_inline(json!({"type": "hardBreak"}));
            }
            self.text(line);
        }
    }

    /// `@[Name](accountid:..)`: the '@' before the link belongs to the mention.
    fn strip_trailing_at(&mut self) {
        let Some(frame) = self.stack.last_mut() else {
            return;
        };
        if !frame.kind.takes_inline() {
            return;
        }
        let Some(last) = frame.children.last_mut() else {
            return;
        };
        let Some(text) = last.get("text").and_then(Value::as_str) else {
            return;
        };
        if let Some(rest) = text.strip_suffix('@') {
            if rest.is_empty() {
                frame.children.pop();
            } else {
                last["text"] = Value::String(rest.to_owned());
            }
        }
    }

    fn finish(mut self) -> Value {
        while self.stack.len() > 1 {
            self.close();
        }
        let content = self.stack.pop().map(|f| f.children).unwrap_or_default();
        json!({"type": "doc", "version": 1, "content": content})
    }
}

fn text_node(text: &str, mut marks: Vec<Value>) -> Value {
    let mut node = Map::new();
    node.insert("type".into(), json!("text"));
    node.insert("text".into(), json!(text));
    if !marks.is_empty() {
        marks.sort_by_key(mark_rank);
        marks.dedup();
        node.insert("marks".into(), Value::Array(marks));
    }
    Value::Object(node)
}

fn frame_to_node(frame: Frame) -> Value {
    let mut children = frame.children;
    if frame.kind.needs_block() && children.is_empty() {
        children.push(json!({"type": "paragraph", "content": []}));
    }
    let mut node = Map::new();
    node.insert("type".into(), json!(frame.kind.adf_type()));
    if let Some(attrs) = frame.attrs {
        node.insert("attrs".into(), attrs);
    }
    // ADF allows `content` to be absent on an empty code block; keep the JSON minimal there.
    if !(frame.kind == Kind::CodeBlock && children.is_empty()) {
        node.insert("content".into(), Value::Array(children));
    }
    Value::Object(node)
}
