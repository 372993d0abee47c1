//! How results reach people (aligned tables, colour only on a terminal, NO_COLOR respected) and
//! scripts (`--output json|ndjson`).

use std::io::{IsTerminal, Write};

use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use serde_json::Value;

use crate::cli::OutputFormat;

/// Stable exit codes (documented in the README).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_FOUND: i32 = 3;
    pub const NEEDS_REAUTH_OR_FORBIDDEN: i32 = 4;
    pub const UPSTREAM: i32 = 5;
}

pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

pub fn color_enabled_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

pub struct Printer {
    pub format: OutputFormat,
}

impl Printer {
    pub fn new(format: OutputFormat) -> Self {
        Self { format }
    }

    /// Prints a value: a table of `columns` for people, the JSON for scripts.
    pub fn value(&self, v: &Value, columns: &[&str]) {
        let mut out = std::io::stdout().lock();
        match self.format {
            OutputFormat::Json => {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(v).unwrap_or_default()
                );
            }
            OutputFormat::Ndjson => match v {
                Value::Array(items) => {
                    for i in items {
                        let _ = writeln!(out, "{i}");
                    }
                }
                other => {
                    let _ = writeln!(out, "{other}");
                }
            },
            OutputFormat::Table => {
                let _ = writeln!(out, "{}", render_table(v, columns));
            }
        }
    }

    /// A one-line human message (stdout for tables, nothing for machine formats).
    pub fn note(&self, msg: &str) {
        if self.format == OutputFormat::Table {
            println!("{msg}");
        }
    }
}

/// Renders an object or an array of objects. Columns absent from the data are skipped; with no
/// columns given, the keys of the first row are used.
pub fn render_table(v: &Value, columns: &[&str]) -> String {
    let rows: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    };
    if rows.is_empty() {
        return "(none)".to_string();
    }
    if rows.iter().all(|r| !r.is_object()) {
        return rows
            .iter()
            .map(|r| scalar(r))
            .collect::<Vec<_>>()
            .join("\n");
    }
    let cols: Vec<String> = if columns.is_empty() {
        rows[0]
            .as_object()
            .map(|o| o.keys().take(8).cloned().collect())
            .unwrap_or_default()
    } else {
        columns
            .iter()
            .filter(|c| rows.iter().any(|r| lookup(r, c).is_some()))
            .map(|c| c.to_string())
            .collect()
    };
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !std::io::stdout().is_terminal() {
        t.force_no_tty();
    }
    t.set_header(cols.iter().map(|c| c.to_uppercase()));
    for r in rows {
        t.add_row(
            cols.iter()
                .map(|c| lookup(r, c).map(scalar).unwrap_or_default()),
        );
    }
    t.to_string()
}

/// `a.b.c` path lookup.
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(v, |cur, k| cur.get(k))
        .filter(|v| !v.is_null())
}

fn scalar(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// A row counter on stderr that is hidden when stderr is not a terminal (scripts see nothing).
pub fn progress_bar() -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = ProgressBar::new_spinner();
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} rows  {per_sec}  {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_uses_requested_columns_and_nested_paths() {
        let v = json!([{"key": "A-1", "fields": {"summary": "one"}}, {"key": "A-2", "fields": {"summary": "two"}}]);
        let t = render_table(&v, &["key", "fields.summary", "missing"]);
        assert!(
            t.contains("KEY") && t.contains("FIELDS.SUMMARY") && !t.contains("MISSING"),
            "{t}"
        );
        assert!(t.contains("A-2") && t.contains("two"), "{t}");
    }

    #[test]
    fn empty_is_none_and_long_cells_are_cut() {
        assert_eq!(render_table(&json!([]), &[]), "(none)");
        let long = "x".repeat(200);
        let t = render_table(&json!({"a": long}), &[]);
        assert!(t.contains("...") && !t.contains(&"x".repeat(100)), "{t}");
    }
}
