//! A JSON result as a table: an array of objects becomes rows and columns, an object becomes
//! key/value rows. Bounded, so a page stays small whatever Jira returns.

use minijinja::{Value as Ctx, context};
use serde_json::Value;

const MAX_ROWS: usize = 100;
const MAX_COLUMNS: usize = 8;
const MAX_CELL: usize = 120;

/// `None` when the value has no useful table form (a scalar, or an array of scalars is shown
/// as one column).
pub(crate) fn from_json(data: &Value) -> Option<Ctx> {
    match data {
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            let mut columns: Vec<String> = Vec::new();
            for item in items.iter().take(MAX_ROWS) {
                for k in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    if columns.len() < MAX_COLUMNS && !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .take(MAX_ROWS)
                .map(|item| columns.iter().map(|c| cell(&item[c])).collect())
                .collect();
            Some(context! {
                columns => columns, rows => rows,
                total => items.len(), shown => rows.len(),
            })
        }
        Value::Array(items) if !items.is_empty() => {
            let rows: Vec<Vec<String>> =
                items.iter().take(MAX_ROWS).map(|v| vec![cell(v)]).collect();
            Some(
                context! { columns => vec!["value"], rows => rows, total => items.len(), shown => items.len().min(MAX_ROWS) },
            )
        }
        Value::Object(o) if !o.is_empty() => {
            let rows: Vec<Vec<String>> = o
                .iter()
                .take(MAX_ROWS)
                .map(|(k, v)| vec![k.clone(), cell(v)])
                .collect();
            Some(
                context! { columns => vec!["field", "value"], rows => rows, total => o.len(), shown => o.len().min(MAX_ROWS) },
            )
        }
        _ => None,
    }
}

fn cell(v: &Value) -> String {
    let text = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > MAX_CELL {
        let mut cut: String = text.chars().take(MAX_CELL - 1).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arrays_of_objects_become_rows_with_the_union_of_keys() {
        let t = from_json(&json!([{"key": "ENG-1", "summary": "a"}, {"key": "ENG-2", "status": {"name": "Done"}}])).unwrap();
        let columns: Vec<String> =
            serde_json::from_value(serde_json::to_value(t.get_attr("columns").unwrap()).unwrap())
                .unwrap();
        assert_eq!(columns, ["key", "summary", "status"]);
        let rows: Vec<Vec<String>> =
            serde_json::from_value(serde_json::to_value(t.get_attr("rows").unwrap()).unwrap())
                .unwrap();
        assert_eq!(rows[1], ["ENG-2", "", "{\"name\":\"Done\"}"]);
    }

    #[test]
    fn scalars_have_no_table_and_cells_are_bounded() {
        assert!(from_json(&json!(3)).is_none());
        assert!(from_json(&json!([])).is_none());
        let long = "x".repeat(500);
        let t = from_json(&json!({"d": long})).unwrap();
        let rows: Vec<Vec<String>> =
            serde_json::from_value(serde_json::to_value(t.get_attr("rows").unwrap()).unwrap())
                .unwrap();
        assert_eq!(rows[0][1].chars().count(), MAX_CELL);
    }
}
