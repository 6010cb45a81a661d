//! The language as help text, with examples (`/help create`): built from the same flag tables
//! parsing uses, so the help cannot drift from what is accepted.

use super::flags::{Takes, flags_for};
use super::words::{Kind, VERBS, Verb};

/// The grammar as help text, with examples (`/help create`).
pub fn help_text(verb: Option<&str>) -> String {
    let mut out = String::from(
        "Resource commands: <verb> <kind> [name] [--flags]\n\
         kinds: vm, container (ct, lxc), pool; sizes: 512M, 2G, 2GiB (a bare number is MiB for memory, GiB for disks)\n\n",
    );
    let examples: &[(&str, &str)] = &[
        (
            "create",
            "create vm --name web-01 --cores 2 --memory 2G --disk 32G --net vmbr0,tag=20",
        ),
        (
            "create",
            "create container --name dns-02 --template local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst --rootfs 8G",
        ),
        ("create", "create pool lab --comment 'Lab machines'"),
        (
            "set",
            "set vm web-01 --memory 4G --cores 4 --add-disk scsi1=local-lvm:100G",
        ),
        ("delete", "delete vm web-01   (alias: rm)"),
        ("clone", "clone vm web-01 --name web-02"),
        ("list", "list vms --node pve1 --tag web -o json"),
        ("show", "show vm web-01"),
        ("start", "start vm web-01   (also stop, shutdown, reboot)"),
        ("snapshot", "snapshot vm web-01 --name before_upgrade"),
        ("snapshots", "snapshots vm web-01"),
        ("rollback", "rollback vm web-01 before_upgrade"),
        ("migrate", "migrate vm web-01 --to pve2"),
    ];
    for (v, example) in examples {
        if verb.is_none_or(|w| w == *v || (w == "rm" && *v == "delete")) {
            out.push_str("  ");
            out.push_str(example);
            out.push('\n');
        }
    }
    if let Some(w) = verb
        && let Some((_, verb)) = VERBS.iter().find(|(x, _)| *x == w)
    {
        for kind in [
            Some(Kind::Vm),
            Some(Kind::Container),
            Some(Kind::Pool),
            None,
        ] {
            let specs = flags_for(*verb, kind);
            if specs.is_empty() || (kind.is_none() && *verb != Verb::List) {
                continue;
            }
            let label = kind.map_or("", |k| k.as_str());
            out.push_str(&format!("\n{w} {label} flags:\n"));
            for f in specs {
                let value = if f.takes == Takes::Value {
                    format!(" {}", f.example)
                } else {
                    String::new()
                };
                out.push_str(&format!("  --{}{value}  {}\n", f.name, f.help));
            }
            if *verb == Verb::List || *verb == Verb::Clone {
                break;
            }
        }
    }
    out.push_str("\nDeclarative commands (create, set, delete, clone) only edit the files: run /apply to make it so.");
    out
}
