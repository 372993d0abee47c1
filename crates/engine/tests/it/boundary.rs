//! Architecture invariant: front ends depend only on engine. The CLI, the HTTP API and the MCP
//! server reach storage, credentials, the catalog and Jira through `jiragate_engine` alone, so
//! authorization and audit cannot be bypassed by a front end that imports an inner crate.

use std::path::{Path, PathBuf};

use serde_json::Value;

const FRONT_ENDS: [(&str, &str); 4] = [
    ("jiragate", "crates/cli"),
    ("jiragate-server", "crates/server"),
    ("jiragate-mcp", "crates/mcp"),
    ("jiragate-console", "crates/console"),
];

const INNER: [&str; 5] = [
    "jiragate-store",
    "jiragate-auth",
    "jiragate-vault",
    "jiragate-catalog",
    "jiragate-jira",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

#[test]
fn front_ends_have_no_normal_dependency_below_engine() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata is JSON");
    let packages = meta["packages"].as_array().expect("packages");
    for (front_end, _) in FRONT_ENDS {
        let package = packages
            .iter()
            .find(|p| p["name"] == front_end)
            .unwrap_or_else(|| panic!("{front_end} is a workspace member"));
        let deps = package["dependencies"].as_array().expect("dependencies");
        assert!(
            deps.iter().any(|d| d["name"] == "jiragate-engine"),
            "{front_end} depends on jiragate-engine"
        );
        // `kind` is null for normal dependencies, "dev" or "build" otherwise; tests may use
        // inner crates for fixtures, the shipped code may not.
        let below: Vec<&str> = deps
            .iter()
            .filter(|d| d["kind"] != "dev")
            .filter_map(|d| d["name"].as_str())
            .filter(|name| INNER.contains(name))
            .collect();
        assert!(
            below.is_empty(),
            "{front_end} depends on {below:?}; front ends depend only on jiragate-engine (use its operations and `jiragate_engine::model`)"
        );
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn front_end_sources_name_no_crate_below_engine() {
    let root = workspace_root();
    let forbidden: Vec<String> = INNER
        .iter()
        .map(|c| format!("{}::", c.replace('-', "_")))
        .collect();
    let mut offences = Vec::new();
    for (_, dir) in FRONT_ENDS {
        let mut files = Vec::new();
        rust_files(&root.join(dir).join("src"), &mut files);
        assert!(!files.is_empty(), "{dir}/src has Rust files");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("readable source");
            for (n, line) in text.lines().enumerate() {
                if let Some(path) = forbidden.iter().find(|f| line.contains(f.as_str())) {
                    offences.push(format!(
                        "{}:{}: {path}",
                        file.strip_prefix(&root).unwrap_or(&file).display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "front ends name crates below engine (use jiragate_engine instead):\n{}",
        offences.join("\n")
    );
}
