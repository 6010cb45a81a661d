//! The README's console examples work as shown: every ```console block's commands run in one
//! piped `proxmox-mpc demo` session, which must succeed, and every output line the README shows
//! must appear in the real output (spaces collapsed; `…` stands for a part that varies, such as
//! a port or a path).

use crate::common::{pmpc, stderr, stdout};

const README: &str = include_str!("../../README.md");
const PROMPT: &str = "proxmox-mpc[default]> ";

/// Returns (commands, expected output lines) of every console block, in order.
fn console_examples() -> (Vec<String>, Vec<String>) {
    let mut commands = Vec::new();
    let mut expected = Vec::new();
    let mut in_block = false;
    for line in README.lines() {
        if line.starts_with("```") {
            in_block = line == "```console";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(command) = line.strip_prefix(PROMPT) {
            commands.push(command.to_string());
        } else if !line.trim().is_empty() {
            expected.push(line.to_string());
        }
    }
    (commands, expected)
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_readme_opens_with_the_two_setup_commands() {
    let first_block: String = README
        .split("```sh")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_default()
        .to_string();
    assert!(
        first_block.contains("cargo run --release -- demo"),
        "{first_block}"
    );
    assert!(first_block.contains("scripts/test"), "{first_block}");
    assert!(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test")).is_file());
}

#[test]
fn every_console_example_in_the_readme_works_as_shown() {
    let (commands, expected) = console_examples();
    assert!(
        commands.len() >= 6,
        "the README shows console examples: {commands:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut input = commands.join("\n");
    input.push('\n');
    let out = pmpc(dir.path())
        .args(["demo", "demo"])
        .write_stdin(input)
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "a README command failed:\n{se}\n{so}");
    assert!(
        se.contains("this cluster is simulated"),
        "the demo banner: {se}"
    );
    let actual = collapse(&format!("{so}\n{se}"));
    for line in expected {
        for fragment in line.split('…') {
            let fragment = collapse(fragment);
            if fragment.is_empty() || fragment == "|" {
                continue;
            }
            assert!(
                actual.contains(&fragment),
                "README line `{line}` (part `{fragment}`) is not in the output:\n{so}\n{se}"
            );
        }
    }
}

/// The README's `/help` block is the whole of `/help`'s output, not a subset: a command added to
/// the registry and missing from the README fails here.
#[test]
fn the_readme_help_block_is_the_whole_help_output() {
    let block: Vec<&str> = README
        .split("```console\n")
        .find(|b| b.starts_with(&format!("{PROMPT}/help\n")))
        .expect("a console block that starts with /help")
        .split("```")
        .next()
        .unwrap()
        .lines()
        .skip(1)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = pmpc(dir.path()).write_stdin("/help\n").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    assert_eq!(
        collapse(&block.join("\n")),
        collapse(&shown),
        "README /help block vs /help:\n{shown}"
    );
}
