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
    /// The operator's configuration (sysexits.h `EX_CONFIG`).
    pub const CONFIG: i32 = 78;
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
    } else if t.width().is_none_or(|w| w < MIN_TABLE_WIDTH) {
        // Some terminals (serial consoles, `script`, CI ttys) report 0 columns: a dynamic
        // layout would squeeze every column to one letter. Fall back to COLUMNS or 120.
        t.set_width(fallback_width());
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

/// Narrower than this, a reported terminal width is taken as unknown.
const MIN_TABLE_WIDTH: u16 = 20;

fn fallback_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|w| *w >= MIN_TABLE_WIDTH)
        .unwrap_or(120)
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

/// Writes the rows of an `--all` export as they arrive, in constant memory whatever the
/// format: ndjson one row per line, json one array written element by element, table a plain
/// aligned layout whose column widths come from the first [`TABLE_SAMPLE`] rows (later cells
/// are cut to those widths).
pub struct RowSink<W: Write> {
    out: W,
    format: OutputFormat,
    columns: Vec<String>,
    rows: u64,
    /// Table only: rows held back until the widths are known.
    sample: Vec<Value>,
    widths: Option<Vec<usize>>,
}

/// Rows a streamed table looks at before it fixes its column widths (about one page).
pub const TABLE_SAMPLE: usize = 100;
const STREAM_CELL_MAX: usize = 60;

impl<W: Write> RowSink<W> {
    pub fn new(out: W, format: OutputFormat, columns: &[&str]) -> Self {
        Self {
            out,
            format,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: 0,
            sample: vec![],
            widths: None,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn push(&mut self, item: &Value) -> std::io::Result<()> {
        match self.format {
            OutputFormat::Ndjson => writeln!(self.out, "{item}")?,
            OutputFormat::Json => {
                let sep = if self.rows == 0 { "[\n  " } else { ",\n  " };
                write!(self.out, "{sep}{item}")?;
            }
            OutputFormat::Table => {
                if self.widths.is_some() {
                    self.table_row(item)?;
                } else {
                    self.sample.push(item.clone());
                    if self.sample.len() >= TABLE_SAMPLE {
                        self.fix_table()?;
                    }
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        match self.format {
            OutputFormat::Ndjson => {}
            OutputFormat::Json => {
                if self.rows == 0 {
                    writeln!(self.out, "[]")?;
                } else {
                    writeln!(self.out, "\n]")?;
                }
            }
            OutputFormat::Table => {
                if self.widths.is_none() {
                    if self.sample.is_empty() {
                        writeln!(self.out, "(none)")?;
                    } else {
                        self.fix_table()?;
                    }
                }
            }
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Chooses columns and widths from the sample, prints the header and the sample.
    fn fix_table(&mut self) -> std::io::Result<()> {
        let sample = std::mem::take(&mut self.sample);
        let objects = sample.iter().any(Value::is_object);
        self.columns = if !objects {
            vec![]
        } else if self.columns.is_empty() {
            sample
                .iter()
                .find_map(Value::as_object)
                .map(|o| o.keys().take(8).cloned().collect())
                .unwrap_or_default()
        } else {
            self.columns
                .iter()
                .filter(|c| sample.iter().any(|r| lookup(r, c).is_some()))
                .cloned()
                .collect()
        };
        let widths: Vec<usize> = self
            .columns
            .iter()
            .map(|c| {
                sample
                    .iter()
                    .map(|r| lookup(r, c).map(|v| scalar(v).chars().count()).unwrap_or(0))
                    .chain([c.chars().count()])
                    .max()
                    .unwrap_or(1)
                    .min(STREAM_CELL_MAX)
            })
            .collect();
        self.widths = Some(widths);
        if !self.columns.is_empty() {
            let header: Vec<String> = self.columns.iter().map(|c| c.to_uppercase()).collect();
            self.write_cells(&header)?;
        }
        for r in &sample {
            self.table_row(r)?;
        }
        Ok(())
    }

    fn table_row(&mut self, r: &Value) -> std::io::Result<()> {
        if self.columns.is_empty() {
            return writeln!(self.out, "{}", scalar(r));
        }
        let cells: Vec<String> = self
            .columns
            .iter()
            .map(|c| lookup(r, c).map(scalar).unwrap_or_default())
            .collect();
        self.write_cells(&cells)
    }

    fn write_cells(&mut self, cells: &[String]) -> std::io::Result<()> {
        let widths = self.widths.as_deref().unwrap_or_default();
        let mut line = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let one_line = cell.replace(['\n', '\r', '\t'], " ");
            let n = one_line.chars().count();
            let text = if n > *w {
                let cut: String = one_line.chars().take(w.saturating_sub(3)).collect();
                format!("{cut}...")
            } else {
                one_line
            };
            if i + 1 == cells.len() {
                line.push_str(&text);
            } else {
                let pad = w.saturating_sub(text.chars().count());
                line.push_str(&text);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(self.out, "{}", line.trim_end())
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

    fn sink(format: OutputFormat, rows: &[Value], cols: &[&str]) -> String {
        let mut s = RowSink::new(Vec::new(), format, cols);
        for r in rows {
            s.push(r).unwrap();
        }
        String::from_utf8(s.finish().unwrap()).unwrap()
    }

    #[test]
    fn streamed_json_is_one_array_and_empty_is_empty() {
        let rows = vec![json!({"a": 1}), json!({"a": 2})];
        let v: Value = serde_json::from_str(&sink(OutputFormat::Json, &rows, &[])).unwrap();
        assert_eq!(v, json!([{"a": 1}, {"a": 2}]));
        let v: Value = serde_json::from_str(&sink(OutputFormat::Json, &[], &[])).unwrap();
        assert_eq!(v, json!([]));
    }

    #[test]
    fn streamed_table_aligns_and_cuts_rows_after_the_sample() {
        let mut rows: Vec<Value> = (0..TABLE_SAMPLE)
            .map(|i| json!({"key": format!("A-{i}"), "fields": {"summary": "short"}}))
            .collect();
        rows.push(json!({"key": "A-LAST", "fields": {"summary": "a much longer summary than any before"}}));
        let t = sink(
            OutputFormat::Table,
            &rows,
            &["key", "fields.summary", "missing"],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), TABLE_SAMPLE + 2, "{t}");
        assert!(lines[0].starts_with("KEY") && lines[0].contains("FIELDS.SUMMARY"));
        assert!(!lines[0].contains("MISSING"));
        assert!(lines.last().unwrap().contains("..."), "{t}");
        assert_eq!(sink(OutputFormat::Table, &[], &[]).trim(), "(none)");
    }
}
