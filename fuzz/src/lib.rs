//! Helpers shared by the fuzz targets: structured JSON generation from fuzzer bytes.
//!
//! Random bytes rarely parse as JSON, and JSON that parses rarely has the keys our code looks
//! at, so the targets build `serde_json::Value`s directly from the input, drawing object keys
//! and strings from a per-target vocabulary (ADF node types, a params schema's property
//! names) most of the time and from the raw input the rest of the time.

use arbitrary::{Result, Unstructured};
use serde_json::{Map, Number, Value};

/// Deepest nesting a generated value reaches; deep enough for nested lists and tables,
/// shallow enough that one input stays cheap.
pub const MAX_DEPTH: u32 = 8;

/// Most entries a generated array or object gets.
const MAX_ENTRIES: usize = 6;

/// Builds JSON values from fuzzer input, with a vocabulary of interesting keys and strings.
pub struct ValueGen<'v> {
    pub keys: &'v [&'v str],
    pub strings: &'v [&'v str],
}

impl ValueGen<'_> {
    /// Any JSON value, at most `depth` levels deep.
    pub fn value(&self, u: &mut Unstructured, depth: u32) -> Result<Value> {
        let kind = if depth == 0 {
            u.int_in_range(0..=4u8)?
        } else {
            u.int_in_range(0..=6u8)?
        };
        Ok(match kind {
            0 => Value::Null,
            1 => Value::Bool(u.arbitrary()?),
            2 => self.number(u)?,
            3 | 4 => Value::String(self.string(u)?),
            5 => Value::Array(self.array(u, depth - 1)?),
            _ => Value::Object(self.object(u, depth - 1)?),
        })
    }

    pub fn number(&self, u: &mut Unstructured) -> Result<Value> {
        Ok(match u.int_in_range(0..=3u8)? {
            0 => Value::Number(Number::from(u.arbitrary::<u64>()?)),
            1 => Value::Number(Number::from(u.arbitrary::<i64>()?)),
            2 => Value::Number(Number::from(u.int_in_range(-3..=300i64)?)),
            // NaN and infinities have no JSON form; from_f64 drops them to null.
            _ => Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        })
    }

    /// A vocabulary string three times out of four, otherwise arbitrary text.
    pub fn string(&self, u: &mut Unstructured) -> Result<String> {
        if !self.strings.is_empty() && u.ratio(3u8, 4u8)? {
            Ok((*u.choose(self.strings)?).to_owned())
        } else {
            u.arbitrary()
        }
    }

    pub fn key(&self, u: &mut Unstructured) -> Result<String> {
        if !self.keys.is_empty() && u.ratio(7u8, 8u8)? {
            Ok((*u.choose(self.keys)?).to_owned())
        } else {
            u.arbitrary()
        }
    }

    pub fn array(&self, u: &mut Unstructured, depth: u32) -> Result<Vec<Value>> {
        let len = u.int_in_range(0..=MAX_ENTRIES)?;
        (0..len).map(|_| self.value(u, depth)).collect()
    }

    pub fn object(&self, u: &mut Unstructured, depth: u32) -> Result<Map<String, Value>> {
        let len = u.int_in_range(0..=MAX_ENTRIES)?;
        let mut map = Map::new();
        for _ in 0..len {
            map.insert(self.key(u)?, self.value(u, depth)?);
        }
        Ok(map)
    }
}

/// Every property name mentioned anywhere in a JSON Schema (nested objects, `$defs`, items),
/// for use as a key vocabulary.
pub fn schema_property_names(schema: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if k == "properties"
                        && let Value::Object(props) = child
                    {
                        out.extend(props.keys().cloned());
                    }
                    walk(child, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(schema, &mut out);
    out.sort();
    out.dedup();
    out
}

/// Every string (enum members, defaults, examples) mentioned in a JSON value.
pub fn strings_in(v: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Object(map) => map.values().for_each(|c| walk(c, out)),
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out.sort();
    out.dedup();
    out
}
