//! ADF → Markdown. Written so that parsing the output again gives the same ADF for every
//! document Markdown can express; other nodes degrade to their text.

use serde_json::Value;

use super::MENTION_SCHEME;

/// Converts an ADF document (or a single node; a JSON string is returned as is) to Markdown.
pub fn adf_to_markdown(doc: &Value) -> String {
    match doc {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(nodes) => render_blocks(nodes),
        node if node_type(node) == "doc" => render_blocks(children(node)),
        node => render_blocks(std::slice::from_ref(node)),
    }
}

fn node_type(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or("")
}

fn children(node: &Value) -> &[Value] {
    node.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn attr<'a>(node: &'a Value, key: &str) -> Option<&'a Value> {
    node.get("attrs").and_then(|a| a.get(key))
}

fn attr_str<'a>(node: &'a Value, key: &str) -> Option<&'a str> {
    attr(node, key).and_then(Value::as_str)
}

fn is_inline(node: &Value) -> bool {
    matches!(
        node_type(node),
        "text"
            | "hardBreak"
            | "mention"
            | "emoji"
            | "inlineCard"
            | "date"
            | "status"
            | "placeholder"
            | "inlineExtension"
            | "mediaInline"
    )
}

/// Blocks separated by blank lines. Consecutive inline nodes form a paragraph. Adjacent lists
/// of the same kind alternate their marker, or Markdown would merge them into one list.
fn render_blocks(nodes: &[Value]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut previous_list: Option<(&str, bool)> = None;
    let mut i = 0;
    while i < nodes.len() {
        if is_inline(&nodes[i]) {
            let start = i;
            while i < nodes.len() && is_inline(&nodes[i]) {
                i += 1;
            }
            let text = render_inline(&nodes[start..i], InlineCtx::Block);
            if !text.is_empty() {
                parts.push(text);
                previous_list = None;
            }
            continue;
        }
        let node = &nodes[i];
        i += 1;
        let ty = node_type(node);
        let is_list = matches!(
            ty,
            "bulletList" | "orderedList" | "taskList" | "decisionList"
        );
        let list_family = if ty == "orderedList" {
            "ordered"
        } else {
            "bullet"
        };
        let alternate = match previous_list {
            Some((family, alt)) if is_list && family == list_family => !alt,
            _ => false,
        };
        let text = render_block(node, alternate);
        if text.is_empty() {
            continue;
        }
        parts.push(text);
        previous_list = is_list.then_some((list_family, alternate));
    }
    parts.join("\n\n")
}

fn render_block(node: &Value, alternate: bool) -> String {
    match node_type(node) {
        "paragraph" => render_inline(children(node), InlineCtx::Block),
        "heading" => {
            let level = attr(node, "level")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 6) as usize;
            let text = render_inline(children(node), InlineCtx::Heading);
            let hashes = "#".repeat(level);
            if text.is_empty() {
                hashes
            } else {
                format!("{hashes} {text}")
            }
        }
        "bulletList" => {
            let bodies: Vec<String> = children(node).iter().map(render_item_body).collect();
            let render = |marker: &str| {
                bodies
                    .iter()
                    .map(|body| list_item(marker, body))
                    .collect::<Vec<_>>()
            };
            let mut items = render(if alternate { "* " } else { "- " });
            // Nested empty items can line up as "- - -", which is a thematic break.
            if items
                .iter()
                .any(|i| is_thematic_break(i.lines().next().unwrap_or("")))
            {
                items = render("+ ");
            }
            items.join("\n")
        }
        "orderedList" => {
            let start = attr(node, "order").and_then(Value::as_u64).unwrap_or(1);
            let delimiter = if alternate { ')' } else { '.' };
            let items: Vec<String> = children(node)
                .iter()
                .enumerate()
                .map(|(n, item)| {
                    let marker = format!("{}{delimiter} ", start + n as u64);
                    list_item(&marker, &render_item_body(item))
                })
                .collect();
            items.join("\n")
        }
        "listItem" => list_item("- ", &render_item_body(node)),
        "taskList" | "decisionList" => {
            let marker = if alternate { "* " } else { "- " };
            let items: Vec<String> = children(node)
                .iter()
                .map(|item| {
                    let done = matches!(attr_str(item, "state"), Some("DONE" | "DECIDED"));
                    let check = if done { "\\[x\\] " } else { "\\[ \\] " };
                    let body = render_item_body(item);
                    list_item(marker, &format!("{check}{body}"))
                })
                .collect();
            items.join("\n")
        }
        "codeBlock" => {
            let code: String = children(node)
                .iter()
                .filter_map(|t| t.get("text").and_then(Value::as_str))
                .collect();
            let language = attr_str(node, "language")
                .and_then(|l| l.split_whitespace().next())
                .unwrap_or("");
            // A backtick fence cannot carry a backtick in its info string; tildes can.
            let fence_char = if language.contains('`') { '~' } else { '`' };
            let fence = fence_char
                .to_string()
                .repeat(longest_run(&code, fence_char).max(2) + 1);
            if code.is_empty() {
                format!("{fence}{language}\n{fence}")
            } else {
                format!("{fence}{language}\n{code}\n{fence}")
            }
        }
        "blockquote" => prefix_lines(&render_blocks(children(node)), "> ", ">"),
        "rule" => "---".to_owned(),
        "table" => render_table(node),
        "blockCard" | "embedCard" => match attr_str(node, "url") {
            Some(url) => format!("<{}>", url.replace(['<', '>', ' '], "")),
            None => String::new(),
        },
        "expand" | "nestedExpand" => {
            let body = render_blocks(children(node));
            match attr_str(node, "title").filter(|t| !t.trim().is_empty()) {
                Some(title) => format!("**{}**\n\n{body}", escape_text(title, InlineCtx::Block)),
                None => body,
            }
        }
        "mediaSingle" | "mediaGroup" | "media" => {
            let alt: Vec<String> = std::iter::once(node)
                .chain(children(node).iter())
                .filter_map(|n| attr_str(n, "alt"))
                .map(|a| escape_text(a, InlineCtx::Block))
                .collect();
            alt.join(" ")
        }
        _ => {
            if node.get("content").is_some() {
                render_blocks(children(node))
            } else if let Some(text) = node.get("text").and_then(Value::as_str) {
                escape_text(text, InlineCtx::Block)
            } else if let Some(text) = attr_str(node, "text") {
                escape_text(text, InlineCtx::Block)
            } else {
                String::new()
            }
        }
    }
}

fn render_item_body(item: &Value) -> String {
    if node_type(item) == "listItem"
        || node_type(item) == "taskItem"
        || node_type(item) == "decisionItem"
    {
        render_blocks(children(item))
    } else {
        render_blocks(std::slice::from_ref(item))
    }
}

/// Marker on the first line, continuation lines indented to the content column.
fn list_item(marker: &str, body: &str) -> String {
    if body.is_empty() {
        return marker.trim_end().to_owned();
    }
    let indent = " ".repeat(marker.len());
    let mut out = String::new();
    for (i, line) in body.split('\n').enumerate() {
        if i == 0 {
            out.push_str(marker);
            // "- ---" would read as one thematic break, not an item holding one.
            if line == "---" && marker.starts_with('-') {
                out.push_str("***");
            } else {
                out.push_str(line);
            }
        } else {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&indent);
                out.push_str(line);
            }
        }
    }
    out
}

fn is_thematic_break(line: &str) -> bool {
    let marks: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    marks.len() >= 3 && matches!(marks[0], '-' | '*' | '_') && marks.iter().all(|c| *c == marks[0])
}

fn prefix_lines(body: &str, prefix: &str, empty_prefix: &str) -> String {
    if body.is_empty() {
        return empty_prefix.to_owned();
    }
    body.split('\n')
        .map(|line| {
            if line.is_empty() {
                empty_prefix.to_owned()
            } else {
                format!("{prefix}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn longest_run(text: &str, c: char) -> usize {
    let mut best = 0;
    let mut current = 0;
    for ch in text.chars() {
        if ch == c {
            current += 1;
            best = best.max(current);
        } else {
            current = 0;
        }
    }
    best
}

fn render_table(table: &Value) -> String {
    let rows: Vec<Vec<String>> = children(table)
        .iter()
        .map(|row| children(row).iter().map(render_cell).collect())
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let line = |cells: &[String]| {
        let mut padded: Vec<&str> = cells.iter().map(String::as_str).collect();
        padded.resize(columns, "");
        format!("| {} |", padded.join(" | "))
    };
    let mut out = Vec::new();
    let empty = Vec::new();
    let header = rows.first().unwrap_or(&empty);
    out.push(line(header));
    out.push(format!("|{}", " --- |".repeat(columns)));
    for row in rows.iter().skip(1) {
        out.push(line(row));
    }
    out.join("\n")
}

/// A cell holds blocks in ADF but one line in Markdown: paragraphs are joined with `<br>`.
fn render_cell(cell: &Value) -> String {
    let parts: Vec<String> = children(cell)
        .iter()
        .map(|block| {
            if node_type(block) == "paragraph" || is_inline(block) {
                let nodes = if is_inline(block) {
                    std::slice::from_ref(block)
                } else {
                    children(block)
                };
                render_inline(nodes, InlineCtx::Table)
            } else {
                let mut text = String::new();
                collect_text(block, &mut text);
                escape_text(text.trim(), InlineCtx::Table)
            }
        })
        .filter(|p| !p.is_empty())
        .collect();
    parts.join("<br>")
}

fn collect_text(node: &Value, out: &mut String) {
    if let Some(t) = node.get("text").and_then(Value::as_str) {
        out.push_str(t);
    }
    for child in children(node) {
        collect_text(child, out);
        if !is_inline(child) {
            out.push(' ');
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InlineCtx {
    Block,
    Heading,
    Table,
}

/// A formatting mark with a Markdown delimiter. Declaration order = nesting order when opened.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Mark {
    Link(String),
    Strike,
    Strong,
    Em,
}

enum Piece {
    Text {
        text: String,
        marks: Vec<Mark>,
        code: bool,
    },
    Break,
    Mention {
        id: String,
        name: String,
    },
}

fn marks_of(node: &Value) -> (Vec<Mark>, bool) {
    let mut marks = Vec::new();
    let mut code = false;
    for mark in node
        .get("marks")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        match node_type(mark) {
            "link" => marks.push(Mark::Link(attr_str(mark, "href").unwrap_or("").to_owned())),
            "strike" => marks.push(Mark::Strike),
            "strong" => marks.push(Mark::Strong),
            "em" => marks.push(Mark::Em),
            "code" => code = true,
            // underline, colours, sub/superscript: no Markdown form; the text stays.
            _ => {}
        }
    }
    marks.sort();
    marks.dedup();
    (marks, code)
}

fn to_pieces(nodes: &[Value]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for node in nodes {
        let text_piece = |text: String, marks: Vec<Mark>| Piece::Text {
            text,
            marks,
            code: false,
        };
        match node_type(node) {
            "text" => {
                let (marks, code) = marks_of(node);
                let text = node.get("text").and_then(Value::as_str).unwrap_or("");
                if !text.is_empty() {
                    pieces.push(Piece::Text {
                        text: text.to_owned(),
                        marks,
                        code,
                    });
                }
            }
            "hardBreak" => pieces.push(Piece::Break),
            "mention" => {
                let id = attr_str(node, "id").unwrap_or("").to_owned();
                let name = attr_str(node, "text")
                    .map(|t| t.trim_start_matches('@').to_owned())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| id.clone());
                pieces.push(Piece::Mention { id, name });
            }
            "emoji" => {
                if let Some(t) = attr_str(node, "text").or_else(|| attr_str(node, "shortName")) {
                    pieces.push(text_piece(t.to_owned(), Vec::new()));
                }
            }
            "inlineCard" => {
                if let Some(url) = attr_str(node, "url") {
                    pieces.push(text_piece(url.to_owned(), vec![Mark::Link(url.to_owned())]));
                }
            }
            "date" => {
                let text = attr(node, "timestamp")
                    .and_then(|t| {
                        t.as_str()
                            .and_then(|s| s.parse::<i64>().ok())
                            .or_else(|| t.as_i64())
                    })
                    .and_then(|ms| {
                        time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok()
                    })
                    .map(|d| d.date().to_string());
                if let Some(text) = text {
                    pieces.push(text_piece(text, Vec::new()));
                }
            }
            _ => {
                let text = node
                    .get("text")
                    .and_then(Value::as_str)
                    .or_else(|| attr_str(node, "text"));
                if let Some(text) = text.filter(|t| !t.is_empty()) {
                    pieces.push(text_piece(text.to_owned(), Vec::new()));
                } else if node.get("content").is_some() {
                    pieces.extend(to_pieces(children(node)));
                }
            }
        }
    }
    pieces
}

struct InlineWriter {
    out: String,
    open: Vec<Mark>,
    line_start: bool,
    ctx: InlineCtx,
}

impl InlineWriter {
    /// Closes marks not wanted (and anything above them), opens the missing ones. Marks that
    /// last longer are opened first (outermost), so they need not close with shorter ones.
    fn transition(&mut self, wanted: &[Mark], lasts: impl Fn(&Mark) -> usize) {
        self.close_to(wanted);
        let mut missing: Vec<&Mark> = wanted.iter().filter(|m| !self.open.contains(m)).collect();
        missing.sort_by(|a, b| lasts(b).cmp(&lasts(a)).then_with(|| a.cmp(b)));
        for mark in missing {
            self.out.push_str(open_delimiter(mark));
            self.line_start = false;
            self.open.push(mark.clone());
        }
    }

    /// Closes marks not in `keep` without opening anything (used before and after whitespace,
    /// which must not sit just inside a delimiter).
    fn close_to(&mut self, keep: &[Mark]) {
        let kept = self.open.iter().take_while(|m| keep.contains(m)).count();
        while self.open.len() > kept {
            if let Some(mark) = self.open.pop() {
                self.out.push_str(&close_delimiter(&mark));
                self.line_start = false;
            }
        }
    }

    fn text(&mut self, text: &str) {
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                self.hard_break();
            }
            if line.is_empty() {
                continue;
            }
            let escaped = if self.line_start && self.ctx == InlineCtx::Block {
                escape_line_start(line)
            } else {
                escape_text(line, self.ctx)
            };
            self.out.push_str(&escaped);
            self.line_start = false;
        }
    }

    fn code(&mut self, code: &str) {
        let mut code = code.replace('\n', " ");
        if self.ctx == InlineCtx::Table {
            code = code.replace('|', "\\|");
        }
        if code.is_empty() {
            return;
        }
        let fence = "`".repeat(longest_run(&code, '`') + 1);
        let needs_pad = code.starts_with('`')
            || code.ends_with('`')
            || (code.starts_with(' ') && code.ends_with(' ') && code.trim() != "");
        let pad = if needs_pad { " " } else { "" };
        self.out
            .push_str(&format!("{fence}{pad}{code}{pad}{fence}"));
        self.line_start = false;
    }

    fn hard_break(&mut self) {
        match self.ctx {
            InlineCtx::Block => {
                self.out.push_str("\\\n");
                self.line_start = true;
            }
            InlineCtx::Table => self.out.push_str("<br>"),
            InlineCtx::Heading => self.out.push(' '),
        }
    }
}

fn open_delimiter(mark: &Mark) -> &'static str {
    match mark {
        Mark::Link(_) => "[",
        Mark::Strike => "~~",
        Mark::Strong => "**",
        Mark::Em => "*",
    }
}

fn close_delimiter(mark: &Mark) -> String {
    match mark {
        Mark::Link(href) => format!("]({})", link_destination(href)),
        other => open_delimiter(other).to_owned(),
    }
}

fn link_destination(href: &str) -> String {
    let needs_angle = href.is_empty()
        || href
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '(' | ')' | '<' | '>'));
    let mut out = String::new();
    for (i, c) in href.char_indices() {
        let escape = match c {
            '\\' | '<' | '>' => true,
            '&' => entity_like(&href[i + 1..]),
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    if needs_angle { format!("<{out}>") } else { out }
}

/// `&` starts an entity reference only when letters or `#` follow.
fn entity_like(rest: &str) -> bool {
    rest.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '#')
}

fn non_link(marks: &[Mark]) -> Vec<Mark> {
    marks
        .iter()
        .filter(|m| !matches!(m, Mark::Link(_)))
        .cloned()
        .collect()
}

fn intersect(a: &[Mark], b: &[Mark]) -> Vec<Mark> {
    a.iter().filter(|m| b.contains(m)).cloned().collect()
}

/// Code spans and mentions carry no emphasis in ADF, and Markdown parsing drops emphasis
/// from them, so we are free to leave emphasis open around them. Choose the set so that no
/// delimiter ends up next to whitespace on its inner side (where Markdown would not see it):
/// keep the previous text's marks open if it ended with whitespace; open the next text's
/// marks early if that text starts with whitespace.
fn neutral_emphasis(pieces: &[Piece]) -> Vec<Vec<Mark>> {
    let mut emphasis: Vec<Vec<Mark>> = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        let neutral = matches!(
            piece,
            Piece::Mention { .. } | Piece::Text { code: true, .. }
        );
        if !neutral {
            emphasis.push(Vec::new());
            continue;
        }
        let (prev_marks, prev_trailing_ws) = match i.checked_sub(1).map(|j| &pieces[j]) {
            Some(Piece::Text {
                text,
                marks,
                code: false,
            }) => (non_link(marks), text.ends_with(is_md_whitespace)),
            Some(Piece::Text { code: true, .. } | Piece::Mention { .. }) => {
                (emphasis[i - 1].clone(), false)
            }
            Some(Piece::Break) | None => (Vec::new(), false),
        };
        let chosen = match pieces.get(i + 1) {
            Some(Piece::Text {
                text,
                marks,
                code: false,
            }) => {
                let next = non_link(marks);
                let mut chosen = if prev_trailing_ws {
                    prev_marks
                } else {
                    intersect(&prev_marks, &next)
                };
                if text.starts_with(is_md_whitespace) {
                    for mark in next {
                        if !chosen.contains(&mark) {
                            chosen.push(mark);
                        }
                    }
                }
                chosen
            }
            _ => prev_marks,
        };
        emphasis.push(chosen);
    }
    emphasis
}

/// The marks piece `i` needs open while it is written.
fn wanted_at(pieces: &[Piece], emphasis: &[Vec<Mark>], i: usize) -> Vec<Mark> {
    match pieces.get(i) {
        Some(Piece::Text {
            marks, code: false, ..
        }) => marks.clone(),
        Some(Piece::Text {
            marks, code: true, ..
        }) => {
            let mut wanted: Vec<Mark> = marks.clone();
            wanted.extend(emphasis[i].iter().cloned());
            wanted.sort();
            wanted.dedup();
            wanted
        }
        Some(Piece::Mention { .. }) => emphasis[i].clone(),
        Some(Piece::Break) | None => Vec::new(),
    }
}

fn render_inline(nodes: &[Value], ctx: InlineCtx) -> String {
    let pieces = to_pieces(nodes);
    let emphasis = neutral_emphasis(&pieces);
    let mut w = InlineWriter {
        out: String::new(),
        open: Vec::new(),
        line_start: true,
        ctx,
    };
    let wanted: Vec<Vec<Mark>> = (0..pieces.len())
        .map(|i| wanted_at(&pieces, &emphasis, i))
        .collect();
    // How many pieces, from `i` on, keep wanting `mark`.
    let lasts_from = |i: usize| {
        let wanted = &wanted;
        move |mark: &Mark| wanted[i..].iter().take_while(|w| w.contains(mark)).count()
    };
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Break => {
                w.close_to(&[]);
                w.hard_break();
            }
            Piece::Mention { id, name } => {
                w.transition(&wanted[i], lasts_from(i));
                w.out.push('@');
                w.out.push('[');
                w.out.push_str(&escape_text(name, ctx));
                w.out.push_str("](");
                w.out
                    .push_str(&link_destination(&format!("{MENTION_SCHEME}{id}")));
                w.out.push(')');
                w.line_start = false;
            }
            Piece::Text {
                text, code: true, ..
            } => {
                w.transition(&wanted[i], lasts_from(i));
                w.code(text);
            }
            Piece::Text {
                text,
                marks,
                code: false,
            } => {
                let no_marks = Vec::new();
                let staying = intersect(marks, wanted.get(i + 1).unwrap_or(&no_marks));
                let core = text.trim_matches(is_md_whitespace);
                if core.is_empty() {
                    w.close_to(&staying);
                    w.text(text);
                    continue;
                }
                let start = text.len() - text.trim_start_matches(is_md_whitespace).len();
                let end = start + core.len();
                if start > 0 {
                    w.close_to(marks);
                    w.text(&text[..start]);
                }
                w.transition(marks, lasts_from(i));
                w.text(core);
                if end < text.len() {
                    w.close_to(&staying);
                    w.text(&text[end..]);
                }
            }
        }
    }
    w.close_to(&[]);
    let mut out = w.out;
    // A trailing hard break has no Markdown form at the end of a block.
    while out.ends_with("\\\n") {
        out.truncate(out.len() - 2);
    }
    out
}

fn is_md_whitespace(c: char) -> bool {
    c.is_whitespace()
}

/// Backslash-escapes characters that would otherwise start Markdown syntax inline.
fn escape_text(text: &str, ctx: InlineCtx) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let escape = match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' => true,
            '#' => ctx == InlineCtx::Heading,
            '&' => entity_like(&text[i + 1..]),
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Like [`escape_text`] plus what is only special at the start of a line: block markers,
/// list numbers, and leading spaces (which the parser would strip).
fn escape_line_start(line: &str) -> String {
    let mut prefix = String::new();
    let mut rest = line;
    while let Some(r) = rest.strip_prefix(' ') {
        prefix.push_str("&#32;");
        rest = r;
    }
    while let Some(r) = rest.strip_prefix('\t') {
        prefix.push_str("&#9;");
        rest = r;
    }
    if rest.is_empty() {
        return prefix;
    }
    let first = rest.chars().next().unwrap_or(' ');
    if matches!(first, '#' | '-' | '+' | '=' | '>') {
        return format!("{prefix}\\{}", escape_text(rest, InlineCtx::Block));
    }
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits > 0
        && let Some(after @ ('.' | ')')) = rest[digits..].chars().next()
    {
        return format!(
            "{prefix}{}\\{after}{}",
            &rest[..digits],
            escape_text(&rest[digits + 1..], InlineCtx::Block)
        );
    }
    format!("{prefix}{}", escape_text(rest, InlineCtx::Block))
}
