//! Help and table output are part of the interface people read: snapshot them.

use std::process::Command;

use crate::support::BIN;

fn help(args: &[&str]) -> String {
    let o = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{args:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn top_level_help_lists_every_contract_subcommand() {
    let h = help(&["--help"]);
    for sub in [
        "serve",
        "mcp",
        "sandbox",
        "connectors",
        "oauth-clients",
        "connect",
        "keys",
        "master-key",
        "migrate",
        "doctor",
        "completions",
    ] {
        assert!(h.contains(sub), "{sub} missing from --help");
    }
    insta::assert_snapshot!("help", h);
}

#[test]
fn every_subcommand_has_examples() {
    for args in [
        &["serve", "--help"][..],
        &["mcp", "--help"],
        &["sandbox", "--help"],
        &["connect", "--help"],
        &["connectors", "create", "--help"],
        &["connectors", "list", "--help"],
        &["connectors", "get", "--help"],
        &["connectors", "describe", "--help"],
        &["connectors", "execute", "--help"],
        &["connectors", "check", "--help"],
        &["connectors", "delete", "--help"],
        &["oauth-clients", "add", "--help"],
        &["keys", "create", "--help"],
        &["master-key", "rotate", "--help"],
        &["completions", "--help"],
    ] {
        let h = help(args);
        assert!(h.contains("Example"), "{args:?} has no example:\n{h}");
    }
    insta::assert_snapshot!("execute_help", help(&["connectors", "execute", "--help"]));
}

#[test]
fn version_and_usage_errors() {
    let o = Command::new(BIN).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("jiragate "));
    let o = Command::new(BIN).arg("no-such-command").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}
