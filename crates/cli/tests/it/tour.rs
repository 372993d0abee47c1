//! Runs every `jiragate` command of the README's tour, in order, against the simulator — so the
//! README stays true.

use crate::support::*;

fn tour_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme.find("<!-- tour:start").expect("tour start marker");
    let end = readme.find("<!-- tour:end -->").expect("tour end marker");
    readme[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("jiragate "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_readme_tour_command_succeeds() {
    let env = Env::new().await;
    let cmds = tour_commands();
    assert!(cmds.len() >= 8, "the tour lost its commands: {cmds:?}");
    let bin_dir = std::path::Path::new(BIN).parent().unwrap().to_path_buf();
    for line in cmds {
        // Through sh, so the README's quoting is exercised exactly as written.
        let mut c = env.program("sh");
        env.jira_env(&mut c);
        c.env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
        c.args(["-c", &line]);
        let o = run(c).await;
        assert!(
            o.status.success(),
            "README tour command failed: {line}\n{}",
            all_output(&o)
        );
        assert!(
            !all_output(&o).contains(env.token()),
            "{line} printed the token"
        );
    }
}
