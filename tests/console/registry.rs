//! The registry drives dispatch, help and the clap subcommands; its invariants hold.

use std::collections::HashSet;

use proxmox_mpc::commands::registry::{COMMANDS, Scope};

#[test]
fn names_and_aliases_are_unique_and_every_command_is_documented() {
    let mut seen = HashSet::new();
    for c in COMMANDS {
        for name in std::iter::once(c.name).chain(c.aliases.iter().copied()) {
            assert!(seen.insert(name), "`{name}` is used twice");
        }
        assert!(!c.summary.is_empty(), "{} has no summary", c.name);
        assert!(!c.usage.is_empty(), "{} has no usage", c.name);
        assert!(
            c.flags.iter().all(|f| !f.help.is_empty()),
            "{} has a flag without help",
            c.name
        );
    }
}

#[test]
fn the_command_line_has_every_registry_command_and_passes_clap_checks() {
    let cli = proxmox_mpc::cli::build();
    cli.clone().debug_assert();
    let subcommands: HashSet<String> = cli
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for c in COMMANDS.iter().filter(|c| c.scope != Scope::Console) {
        assert!(
            subcommands.contains(c.name),
            "`proxmox-mpc {}` is missing",
            c.name
        );
    }
    assert!(subcommands.contains("completions") && subcommands.contains("sim"));
}

#[test]
fn completions_are_printed_for_bash() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::pmpc(dir.path())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = crate::common::stdout(&out);
    assert!(
        text.contains("proxmox-mpc") && text.contains("status") && text.contains("--live"),
        "{text}"
    );
}
