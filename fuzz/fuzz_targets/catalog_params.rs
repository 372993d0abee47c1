//! Catalog params validation and request planning on untrusted params must never panic.
//!
//! Entry point: `Catalog::plan(entity, action, params)` — the public dry run of `execute`:
//! JSON Schema validation of the params, then the action's planner (path templating, query
//! building, bodies incl. Markdown → ADF). No client, no network.
//!
//! The first byte picks how params are made; the action is usually a real one (picked by
//! index), sometimes arbitrary names (unknown entity/action errors):
//! - raw JSON: the rest parsed as JSON;
//! - schema-aware: a JSON object whose keys are the action's schema property names and whose
//!   strings come from the schema's enums/examples and the example params;
//! - mutated example: the action's example params with fields replaced, dropped or added.
#![no_main]

use std::sync::LazyLock;

use arbitrary::{Result, Unstructured};
use jiragate_catalog::Catalog;
use jiragate_fuzz::{ValueGen, schema_property_names, strings_in};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Per action (same order as `Catalog::actions`): key and string vocabularies.
struct Vocab {
    keys: Vec<&'static str>,
    strings: Vec<&'static str>,
}

const EXTRA_STRINGS: &[&str] = &[
    "",
    " ",
    "PROJ-1",
    "PROJ",
    "10000",
    "-1",
    "0",
    "../..",
    "a/b?c=d#e",
    "%2F",
    "{id}",
    "project = PROJ ORDER BY created DESC",
    "5b10ac8d82e05b22cc7d4ef5",
    "*all",
    "null",
    "2026-01-01",
    "2026-01-01T00:00:00.000+0000",
    "**bold** text\n\n- item",
    "ünïcödé",
];

static VOCABS: LazyLock<Vec<Vocab>> = LazyLock::new(|| {
    let leak = |v: Vec<String>| -> Vec<&'static str> {
        v.into_iter()
            .map(|s| &*Box::leak(s.into_boxed_str()))
            .collect()
    };
    Catalog::new()
        .actions()
        .iter()
        .map(|def| {
            let schema = def.params_schema();
            let mut strings = strings_in(&schema);
            strings.extend(strings_in(&def.example_params()));
            let mut strings = leak(strings);
            strings.extend_from_slice(EXTRA_STRINGS);
            Vocab {
                keys: leak(schema_property_names(&schema)),
                strings,
            }
        })
        .collect()
});

/// Replaces, drops or adds fields of the example params, recursively into objects.
fn mutate(u: &mut Unstructured, vg: &ValueGen, v: &mut Value, depth: u32) -> Result<()> {
    match v {
        Value::Object(map) if depth > 0 => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                match u.int_in_range(0..=5u8)? {
                    0 => {
                        map.remove(&k);
                    }
                    1 => {
                        map.insert(k, vg.value(u, 3)?);
                    }
                    2 => {
                        if let Some(child) = map.get_mut(&k) {
                            mutate(u, vg, child, depth - 1)?;
                        }
                    }
                    _ => {}
                }
            }
            if u.ratio(1u8, 3u8)? {
                map.insert(vg.key(u)?, vg.value(u, 3)?);
            }
        }
        Value::Array(items) if depth > 0 => {
            for item in items.iter_mut() {
                mutate(u, vg, item, depth - 1)?;
            }
            if u.ratio(1u8, 4u8)? {
                items.push(vg.value(u, 2)?);
            }
        }
        _ => {
            if u.ratio(1u8, 2u8)? {
                *v = vg.value(u, 2)?;
            }
        }
    }
    Ok(())
}

fn run(u: &mut Unstructured, mode: u8) -> Result<()> {
    let catalog = Catalog::new();
    let actions = catalog.actions();
    let (entity, action, index) = if u.ratio(15u8, 16u8)? {
        let i = u.choose_index(actions.len())?;
        (
            actions[i].entity.to_owned(),
            actions[i].action.to_owned(),
            Some(i),
        )
    } else {
        (u.arbitrary::<String>()?, u.arbitrary::<String>()?, None)
    };
    let empty = Vocab {
        keys: Vec::new(),
        strings: EXTRA_STRINGS.to_vec(),
    };
    let vocab = index.map_or(&empty, |i| &VOCABS[i]);
    let vg = ValueGen {
        keys: &vocab.keys,
        strings: &vocab.strings,
    };
    let params = match mode % 3 {
        0 => {
            let rest = u.bytes(u.len())?;
            serde_json::from_slice(rest).unwrap_or(Value::Null)
        }
        1 => Value::Object(vg.object(u, 4)?),
        _ => {
            let mut params = index.map_or(Value::Null, |i| actions[i].example_params());
            mutate(u, &vg, &mut params, 4)?;
            params
        }
    };
    if let Ok(planned) = catalog.plan(&entity, &action, params) {
        // Planned requests are serialised in dry runs; that must work for any params too.
        serde_json::to_string(&planned).expect("a planned request serialises");
        assert!(
            planned.path.starts_with('/'),
            "planned path is not absolute: {planned:?}"
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let _ = run(&mut Unstructured::new(rest), mode);
});
