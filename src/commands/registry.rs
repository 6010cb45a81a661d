//! The one table of commands. It drives dispatch, `/help`, `/help <command>`, completion and
//! the clap subcommands (`proxmox-mpc status --json`), so adding a command is one entry here
//! plus its file in `commands/`.

use clap::{Arg, ArgAction, ArgMatches};

use crate::lang::Verb;

mod schema;

pub use schema::{Changes, Operation, operation_verb, operations, schema_document, verb_operation};
use schema::{verb_name, verb_summary, verbs};

/// Where a command can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// In the console and as `proxmox-mpc <name>`.
    Both,
    /// Only in the console (`/exit`).
    Console,
    /// Only on the command line (`proxmox-mpc demo`).
    Cli,
}

/// Whether the command is built yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Ready,
    /// Named here so users and "did you mean" know it; answers that it is not available yet.
    Planned,
}

/// A flag of a slash command (`/apply --yes`), as clap and the help show it. The resource
/// verbs' flags are `lang::ResourceFlag`.
#[derive(Debug, Clone, Copy)]
pub struct CommandFlag {
    pub long: &'static str,
    pub short: Option<char>,
    /// `Some(VALUE)` when the flag takes a value.
    pub value: Option<&'static str>,
    pub help: &'static str,
}

/// A positional argument of a command.
#[derive(Debug, Clone, Copy)]
pub struct PositionalSpec {
    pub name: &'static str,
    pub help: &'static str,
    pub required: bool,
}

/// One command.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// One line, imperative, no trailing period.
    pub summary: &'static str,
    pub usage: &'static str,
    /// Longer help shown by `/help <command>`.
    pub details: &'static str,
    pub flags: &'static [CommandFlag],
    pub positionals: &'static [PositionalSpec],
    pub scope: Scope,
    pub availability: Availability,
}

const fn flag(long: &'static str, help: &'static str) -> CommandFlag {
    CommandFlag {
        long,
        short: None,
        value: None,
        help,
    }
}

const fn opt(long: &'static str, value: &'static str, help: &'static str) -> CommandFlag {
    CommandFlag {
        long,
        short: None,
        value: Some(value),
        help,
    }
}

const YES: CommandFlag = CommandFlag {
    long: "yes",
    short: Some('y'),
    value: None,
    help: "Answer yes to confirmations (for scripts)",
};

/// Every command, in the order `/help` lists them.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "init",
        aliases: &[],
        summary: "Make this folder a workspace connected to a Proxmox VE cluster",
        usage: "/init [--endpoint URL] [--token-id USER@REALM!NAME | --login USER@REALM] [--secret-env VAR | --secret-file PATH | --secret-stdin] [--fingerprint FP | --ca-file PATH | --insecure] [--yes]",
        details: "Creates .proxmox/config.yml, .proxmox/state.db, terraform/, ansible/, tests/, docs/ and a .gitignore, then tests the connection.\n\
                  In a terminal it asks for what the flags do not give. It also reads the bpg provider's variables: PROXMOX_VE_ENDPOINT,\n\
                  PROXMOX_VE_API_TOKEN (user@realm!name=secret) and PROXMOX_VE_INSECURE. The secret never goes in the workspace: config.yml\n\
                  stores where it comes from (env:VAR or file:PATH; a pasted secret, or the token --login creates, is kept in\n\
                  ~/.config/proxmox-mpc/secrets/, mode 0600, and referenced as file:PATH). The server's certificate fingerprint is pinned on first use\n\
                  (--yes or --fingerprint accept it without asking). It refuses to overwrite an existing workspace. The folder\n\
                  becomes a git repository (or joins the one it is in): every change the console makes to the files is a commit.",
        flags: &[
            opt(
                "endpoint",
                "URL",
                "Proxmox VE API address, e.g. https://pve.example:8006",
            ),
            opt(
                "token-id",
                "USER@REALM!NAME",
                "API token id, e.g. root@pam!mpc",
            ),
            opt(
                "secret-env",
                "VAR",
                "Read the token secret from this environment variable",
            ),
            opt(
                "secret-file",
                "PATH",
                "Read the token secret from this file",
            ),
            flag(
                "secret-stdin",
                "Read the token secret (with --login: the password) from standard input",
            ),
            opt(
                "login",
                "USER@REALM",
                "No token yet: log in once and create the workspace's own token and role",
            ),
            opt(
                "fingerprint",
                "SHA256",
                "Pin this certificate fingerprint (AB:CD:...)",
            ),
            opt(
                "ca-file",
                "PATH",
                "Trust the server's certificate through this CA file",
            ),
            flag(
                "insecure",
                "Do not verify the server's certificate (unsafe)",
            ),
            flag(
                "no-connect",
                "Write the workspace without testing the connection",
            ),
            opt(
                "from-bundle",
                "DIR",
                "Start from a bundle /export wrote (guests get VMIDs free on this cluster)",
            ),
            YES,
        ],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "status",
        aliases: &["st"],
        summary: "Show the workspace, the cluster and what changed",
        usage: "/status [--live] [-o table|json|yaml]",
        details: "Reads the state database: endpoint, guests by state from the last sync, pending changes, last sync and apply.\n\
                  --live also asks the server for its version and which nodes are online.",
        flags: &[flag(
            "live",
            "Ask the server now instead of reading the last sync",
        )],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "doctor",
        aliases: &[],
        summary: "Check the connection, token privileges, clock and workspace health",
        usage: "/doctor [--privileges] [-o table|json|yaml]",
        details: "Each check is ok, warn or fail, with the fix. Checks: configuration, secret, TLS, connection, PVE version,\n\
                  clock skew, token privileges, database integrity, writable files, optional tools (terraform, ansible).\n\
                  --privileges prints the minimal PVE privileges the operations need, with what each is for, and the\n\
                  `pveum role add NAME -privs \"...\"` line that creates that role (docs/team.md).",
        flags: &[flag(
            "privileges",
            "Print the PVE privileges the operations need as a pveum role definition",
        )],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "config",
        aliases: &["cfg"],
        summary: "Show the effective configuration or change one value",
        usage: "/config [set KEY VALUE]",
        details: "Without arguments: the effective configuration of the active environment (the secret is only a reference).\n\
                  `/config set KEY VALUE` validates the new value before it writes config.yml. Keys: active, endpoint, token_id,\n\
                  secret, tls.fingerprint, tls.ca_file, tls.insecure, defaults.node, defaults.storage, defaults.bridge,\n\
                  defaults.parallelism, defaults.timeout_secs,\n\
                  git.auto_commit (every change a commit), git.author (when git has no identity), state.url (the team's\n\
                  PostgreSQL, postgres://USER@HOST:PORT/DB; none for the local state.db), state.password (env:, file: or vault:\n\
                  reference), state.sslmode, state.ca_file.",
        flags: &[],
        positionals: &[
            PositionalSpec {
                name: "action",
                help: "`set` to change a value",
                required: false,
            },
            PositionalSpec {
                name: "key",
                help: "The key to set, e.g. defaults.node",
                required: false,
            },
            PositionalSpec {
                name: "value",
                help: "The new value",
                required: false,
            },
        ],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "help",
        aliases: &["h", "?"],
        summary: "List the commands, or explain one",
        usage: "/help [COMMAND]",
        details: "`/help` lists every command with its one-line summary; `/help status` shows its usage and flags.",
        flags: &[],
        positionals: &[PositionalSpec {
            name: "command",
            help: "The command to explain",
            required: false,
        }],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "exit",
        aliases: &["quit", "q"],
        summary: "Leave the console",
        usage: "/exit",
        details: "Ctrl-D leaves too. Ctrl-C only cancels the current line or operation.",
        flags: &[],
        positionals: &[],
        scope: Scope::Console,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "clear",
        aliases: &["cls"],
        summary: "Clear the screen",
        usage: "/clear",
        details: "Ctrl-L does the same. The history and the session stay as they are.",
        flags: &[],
        positionals: &[],
        scope: Scope::Console,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "tour",
        aliases: &[],
        summary: "Walk through sync, create, plan, apply, test and a drift, step by step (demo)",
        usage: "/tour",
        details: "In `proxmox-mpc demo`: each step says in two lines what it does and runs when you press Enter; `skip` skips a step,\n\
                  `q` leaves the tour, any other line runs as usual. One step changes a guest's memory on the simulated cluster\n\
                  behind the console's back and repairs the drift with /sync --adopt. The workspace stays a normal one.",
        flags: &[],
        positionals: &[],
        scope: Scope::Console,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "demo",
        aliases: &[],
        summary: "Try the console against a simulated cluster, no server needed",
        usage: "proxmox-mpc demo [DIR] [--yes]",
        details: "Starts the built-in Proxmox VE simulator (a homelab: 3 nodes, a few guests) on 127.0.0.1, prepares a workspace\n\
                  in DIR (default ./proxmox-mpc-demo), runs /init against it and opens the console. The token secret is passed\n\
                  through the process environment, never a file.",
        flags: &[YES],
        positionals: &[PositionalSpec {
            name: "dir",
            help: "Folder for the demo workspace (default ./proxmox-mpc-demo)",
            required: false,
        }],
        scope: Scope::Cli,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "sim",
        aliases: &[],
        summary: "Serve the simulated Proxmox VE API",
        usage: "proxmox-mpc sim [--listen ADDR] [--http] [--seed homelab|N] [--nodes N] [--guests N]",
        details: "Serves a simulated Proxmox VE cluster on 127.0.0.1 (HTTPS with a self-signed certificate by default) and\n\
                  prints how to reach it: the endpoint, the API token and the certificate fingerprint. See proxmox-mpc sim --help.",
        flags: &[],
        positionals: &[],
        scope: Scope::Cli,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "completions",
        aliases: &[],
        summary: "Print shell completions for bash, zsh, fish, elvish or powershell",
        usage: "proxmox-mpc completions SHELL",
        details: "Prints the completion script for SHELL on stdout, e.g. proxmox-mpc completions bash > /etc/bash_completion.d/proxmox-mpc.",
        flags: &[],
        positionals: &[],
        scope: Scope::Cli,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "schema",
        aliases: &[],
        summary: "Print every operation with its input schema as JSON",
        usage: "proxmox-mpc schema",
        details: "Prints {\"operations\": [...]}: each operation's name, aliases, summary, where it can be called (console,\n\
                  command line or both), its input as a JSON Schema, whether it changes the cluster or the files, and whether\n\
                  it asks before acting. Other front ends (REST, MCP) are built from the same registry.",
        flags: &[],
        positionals: &[],
        scope: Scope::Cli,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "mcp",
        aliases: &[],
        summary: "Serve this workspace to an AI assistant over the Model Context Protocol (stdio)",
        usage: "proxmox-mpc mcp [--profile read-only|plan|operate]",
        details: "Speaks MCP on standard input and output, for an assistant's client to start (Claude Desktop, an IDE, the\n\
                  official SDKs). Its tools come from the operations: `guests`, `guest`, `plan` and the other reads; `create`,\n\
                  `set`, `delete`, `clone` edit the files only; `apply` takes the plan_id and plan_hash `plan` answered and applies\n\
                  exactly that plan or nothing. --profile (chosen here, never by the client) limits what calls may change:\n\
                  read-only (the default) reads; plan also edits the files; operate also applies plans and acts on guests.\n\
                  Nothing runs commands in guests or on the host. Every call is audited with origin mcp and the client's name.",
        flags: &[opt(
            "profile",
            "PROFILE",
            "What calls may change: read-only (default), plan or operate",
        )],
        positionals: &[],
        scope: Scope::Cli,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "sync",
        aliases: &[],
        summary: "Import the cluster into the workspace files",
        usage: "/sync [--adopt] [--prune] [--agent-ips] [-o table|json|yaml]",
        details: "Reads the whole cluster (one request per guest), stores it as a numbered snapshot in state.db and writes\n\
                  terraform/ (bpg/proxmox resources with import blocks), ansible/, tests/ and docs/. Only files whose content\n\
                  changed are written. A guest whose file differs from the server is reported field by field and its file is\n\
                  left alone; a guest gone from the server keeps its file. Templates can be overridden in .proxmox/templates/.",
        flags: &[
            flag(
                "adopt",
                "Rewrite the files of drifted guests with the live values",
            ),
            flag(
                "prune",
                "Remove the files of guests that are gone from the server",
            ),
            flag(
                "agent-ips",
                "ansible_host from the guest agents of running VMs (one request per agent)",
            ),
        ],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "drift",
        aliases: &[],
        summary: "Show where the cluster differs from the files, writing nothing",
        usage: "/drift [--detailed-exitcode] [-o table|json|yaml]",
        details: "Reads the whole cluster and compares every guest with its file and with the last /sync, field by field\n\
                  (memory, cores, net0, node, state...): drift (changed on the server), conflict (changed on the server and in\n\
                  the file, to different values; /resolve settles it), pending (changed only in the file; /apply carries it out),\n\
                  new or gone guests, and node networks, storages or pools that differ. Writes no file and records no snapshot.\n\
                  --detailed-exitcode exits 0 without drift, 2 with drift (pending changes alone are not drift) and 1 on error.",
        flags: &[flag(
            "detailed-exitcode",
            "Exit 0 without drift, 2 with drift, 1 on error",
        )],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "resolve",
        aliases: &[],
        summary: "Settle a conflict between a guest's file and the server",
        usage: "/resolve GUEST [FIELD] [--take server|code]",
        details: "A conflict is a field changed on the server and in the file since the last /sync, to different values; /sync\n\
                  lists them and leaves the file as edited. --take server writes the server's value into the file (that field\n\
                  only: other edits stay); --take code keeps the file, so the next /apply sets its value on the server. Without\n\
                  FIELD every conflict of the guest is settled; with FIELD any field that differs can be (drift too). Without\n\
                  --take the console shows both values and asks which side wins.\n\
                  /sync --adopt takes the server's value for every difference at once.",
        flags: &[opt(
            "take",
            "server|code",
            "server: the file takes the server's value; code: the file stays and /apply changes the server",
        )],
        positionals: &[
            PositionalSpec {
                name: "guest",
                help: "The guest, by name or vmid",
                required: true,
            },
            PositionalSpec {
                name: "field",
                help: "The field to settle (memory, cores, ...); default: every conflict",
                required: false,
            },
        ],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "watch",
        aliases: &[],
        summary: "Keep checking for drift and report each change, to a webhook too",
        usage: "proxmox-mpc watch [--every 5m] [--count N] [--webhook URL [--webhook-secret-env VAR] [--slack]]",
        details: "Runs /drift's check every --every (30s, 5m, 1h; default 5m) and prints one line per change: a new difference,\n\
                  one whose values changed, one gone. --webhook posts each check's changes as JSON (or {\"text\": ...} with\n\
                  --slack); with --webhook-secret-env VAR each post carries X-Proxmox-MPC-Signature: sha256=<hex>, the\n\
                  HMAC-SHA256 of the raw body with the secret in VAR (never written anywhere). An unreachable cluster is retried\n\
                  with a growing wait; a receiver that is down gets a warning and its notices wait, in order, until it answers.\n\
                  --count N stops after N checks; Ctrl-C stops too. Writes nothing.",
        flags: &[
            opt(
                "every",
                "DURATION",
                "Time between checks: 30s, 5m, 1h (default 5m)",
            ),
            opt("count", "N", "Stop after N checks"),
            opt(
                "webhook",
                "URL",
                "Post each check's changes to this http(s) address",
            ),
            opt(
                "webhook-secret-env",
                "VAR",
                "Sign the posts with the secret in this environment variable",
            ),
            flag(
                "slack",
                "Post Slack's {\"text\": ...} body instead of the JSON notice",
            ),
        ],
        positionals: &[],
        scope: Scope::Cli,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "plan",
        aliases: &[],
        summary: "Show what /apply would change",
        usage: "/plan [--offline] [--detailed-exitcode] [--json]",
        details: "Reads the desired state from terraform/ and the live cluster (or, with --offline, the last snapshot), and shows\n\
                  each change like `terraform plan`: + create, ~ update (field old -> new), - destroy, -/+ replace (with the reason).\n\
                  Only guests the workspace manages are ever destroyed. The plan is saved in state.db for /apply.\n\
                  --detailed-exitcode exits 0 with no changes, 2 with changes and 1 on error.",
        flags: &[
            flag(
                "offline",
                "Plan against the last stored snapshot instead of the live cluster",
            ),
            flag(
                "detailed-exitcode",
                "Exit 0 with no changes, 2 with changes, 1 on error",
            ),
            opt(
                "out",
                "FILE",
                "Also write the plan to FILE for `apply --plan` (no secret in it)",
            ),
        ],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "diff",
        aliases: &[],
        summary: "Show the planned changes as a unified diff",
        usage: "/diff [--offline]",
        details: "The same comparison as /plan, shown as a unified diff of PVE config keys per guest.",
        flags: &[flag(
            "offline",
            "Compare with the last stored snapshot instead of the live cluster",
        )],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "apply",
        aliases: &[],
        summary: "Carry out the saved plan on the cluster",
        usage: "/apply [--yes] [--target NAME,...] [--parallelism N]",
        details: "Runs the saved plan (or a fresh one) through the API: creates, config updates with the planned digest, resizes,\n\
                  start/stop and destroys, in parallel per node, waiting out PVE's lock errors. A stale plan is refused. Every step\n\
                  is journaled in state.db, so an interrupted apply resumes without repeating what is done. Asks before changing\n\
                  anything unless --yes.",
        flags: &[
            YES,
            opt(
                "target",
                "NAME,...",
                "Apply only the changes for these guests (and what they need)",
            ),
            opt(
                "parallelism",
                "N",
                "Steps running at once (default 8, 4 per node)",
            ),
            opt(
                "override-policy",
                "RULE,...",
                "Apply although these error-level policy rules fail (audit-logged)",
            ),
            opt(
                "plan",
                "FILE",
                "Apply exactly the plan `plan --out` wrote, refused if files or cluster moved",
            ),
            opt(
                "plan-id",
                "N",
                "Apply exactly this saved plan (its plan_id), with --plan-hash",
            ),
            opt(
                "plan-hash",
                "HASH",
                "The plan_hash /plan answered: refused if the plan is not the one reviewed",
            ),
        ],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "history",
        aliases: &[],
        summary: "List what changed in the workspace and the cluster, newest first",
        usage: "/history [GUEST] [--since TIME] [--json] | /history show ID",
        details: "One timeline from the workspace's git log (every change the console makes to the files is a commit: sync,\n\
                  resource commands, apply write-back, rollback) and state.db (plans, cluster snapshots, applies, actions on\n\
                  guests), each entry with its id, time, actor, origin (console or cli) and what changed. GUEST keeps the\n\
                  entries about one guest; --since takes 30m, 2h, 3d, 1w, a date or an RFC 3339 time. `/history show ID` shows\n\
                  one change: the commit's diff, or the plan's text and journal.",
        flags: &[opt(
            "since",
            "TIME",
            "Only entries at or after TIME (30m, 2h, 3d, 1w, 2024-05-01)",
        )],
        positionals: &[
            PositionalSpec {
                name: "guest",
                help: "Only the entries about this guest (or `show`)",
                required: false,
            },
            PositionalSpec {
                name: "id",
                help: "With `show`: the entry to show (commit id, plan-N, snapshot-N, audit-N)",
                required: false,
            },
        ],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "rollback",
        aliases: &[],
        summary: "Bring the workspace files back to a history entry and plan the way back",
        usage: "/rollback [ID] [--yes] [--recreate-empty]",
        details: "Rolls back the WORKSPACE (a guest's own snapshots are the resource command `rollback vm NAME SNAP`). Restores\n\
                  terraform/, ansible/, tests/ and docs/ as they were after the entry ID from /history (a commit id, plan-N,\n\
                  snapshot-N) as a new commit, then shows and saves the plan that brings the cluster back; /apply carries it out.\n\
                  Without ID it undoes the last apply. Refused with nothing changed: files with uncommitted changes, a disk that\n\
                  would have to shrink, and a guest an apply destroyed (its disks and data are gone; --recreate-empty creates it\n\
                  again, empty).",
        flags: &[
            YES,
            flag(
                "recreate-empty",
                "Roll back even if a destroyed guest would be created again, empty",
            ),
        ],
        positionals: &[PositionalSpec {
            name: "id",
            help: "The history entry to go back to (default: before the last apply)",
            required: false,
        }],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "test",
        aliases: &[],
        summary: "Run the infrastructure tests against the live cluster",
        usage: "/test [--filter NAME] [--tag TAG] [--junit FILE] [--restore-drill GUEST] [--json]",
        details: "Reads the cluster once and checks it against tests/*.yml (generated by /sync) and tests/checks/*.yml\n\
                  (hand-written: tcp, reaches, cpu_below, memory_headroom; /sync never touches them), plus the workspace\n\
                  (Terraform maps to the model, provider pinned, inventory, no secrets, files as the console last wrote them:\n\
                  a hand edit is noted, a missing file fails). Prints one line per guest and\n\
                  `N passed, N failed`; fails (non-zero exit) when any check fails. --json gives the machine report.\n\
                  A `backups: {rpo: 24h, exclude: [NAME]}` entry in a tests/checks/*.yml file adds two checks per guest: it is in\n\
                  a backup job (or excluded on purpose), and its newest backup is younger than the RPO. --restore-drill GUEST\n\
                  restores GUEST's newest backup to a scratch VMID, starts it, removes it and reports the time taken.",
        flags: &[
            opt(
                "filter",
                "NAME",
                "Only checks whose guest, file or check name contains NAME",
            ),
            opt(
                "tag",
                "TAG",
                "Only checks of guests (or hand-written checks) with TAG",
            ),
            opt("junit", "FILE", "Also write JUnit XML to FILE"),
            opt(
                "restore-drill",
                "GUEST",
                "Restore GUEST's newest backup to a scratch VMID, start it, remove it, report the time",
            ),
        ],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "backup",
        aliases: &[],
        summary: "Back a guest up now (a vzdump task, followed to its end)",
        usage: "/backup vm|container NAME [--storage STORAGE] [--mode snapshot|suspend|stop] [--compress zstd|gzip|lzo|0] [--notes TEXT] [--protected] [--yes]",
        details: "Runs vzdump for the guest on its node and waits for the task. The storage must have `backup` content\n\
                  (default: defaults.storage if it takes backups, else the first storage that does). A locked guest is refused\n\
                  before anything runs. The new volume is STORAGE:backup/vzdump-qemu-VMID-YYYY_MM_DD-HH_MM_SS.vma.zst\n\
                  (vzdump-lxc-...tar.zst for a container). Audited. See docs/backup.md.",
        flags: &[
            opt("storage", "STORAGE", "Where the backup goes (a storage with backup content)"),
            opt("mode", "MODE", "snapshot (default, no downtime), suspend or stop"),
            opt("compress", "ALGO", "zstd (default), gzip, lzo or 0 (none)"),
            opt(
                "notes",
                "TEXT",
                "Notes on the backup ({{guestname}}, {{vmid}}, {{node}}, {{cluster}} are filled in)",
            ),
            flag("protected", "Protect the backup from pruning and removal"),
            YES,
        ],
        positionals: &[
            PositionalSpec {
                name: "kind",
                help: "vm or container",
                required: true,
            },
            PositionalSpec {
                name: "name",
                help: "The guest, by name or vmid",
                required: true,
            },
        ],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "backups",
        aliases: &[],
        summary: "List the backups on the cluster's backup storages, with sizes and ages",
        usage: "/backups [vm|container NAME] [--storage STORAGE] [--json]",
        details: "Reads every storage with `backup` content (a shared one once) and lists the backup volumes, newest first:\n\
                  volid, guest, size, age, notes, protection. A guest that is gone is shown by its vmid.",
        flags: &[opt("storage", "STORAGE", "Only the backups on this storage")],
        positionals: &[
            PositionalSpec {
                name: "kind",
                help: "vm or container (with NAME)",
                required: false,
            },
            PositionalSpec {
                name: "name",
                help: "Only this guest's backups (name or vmid)",
                required: false,
            },
        ],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "restore",
        aliases: &[],
        summary: "Restore a backup as a new guest and write its file",
        usage: "/restore vm|container NAME [--from VOLID] [--as NEWNAME] [--vmid N] [--node NODE] [--storage STORAGE] [--yes]",
        details: "Restores the backup (default: NAME's newest) as a new guest: NEWNAME (default NAME, which must then be free)\n\
                  with the next free vmid (or --vmid N, which must be free), new MAC addresses when NAME still exists. The\n\
                  guest's file is written with its import block, like /sync writes any new guest, so /plan has nothing to do.\n\
                  An unknown volid, a taken name or vmid is refused before anything changes. Audited.",
        flags: &[
            opt("from", "VOLID", "The backup volume (STORAGE:backup/vzdump-...)"),
            opt("as", "NEWNAME", "The restored guest's name"),
            opt("vmid", "N", "The restored guest's vmid (must be free)"),
            opt("node", "NODE", "The node to restore on (default: the guest's)"),
            opt("storage", "STORAGE", "Where the restored disks go (default: where they were)"),
            YES,
        ],
        positionals: &[
            PositionalSpec {
                name: "kind",
                help: "vm or container",
                required: true,
            },
            PositionalSpec {
                name: "name",
                help: "The backed-up guest, by name or vmid",
                required: true,
            },
        ],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "forget-backup",
        aliases: &[],
        summary: "Remove one backup volume for good",
        usage: "/forget-backup VOLID [--yes]",
        details: "Removes the backup volume from its storage after asking (or with --yes). A protected backup is refused.\n\
                  Audited.",
        flags: &[YES],
        positionals: &[PositionalSpec {
            name: "volid",
            help: "The backup volume (STORAGE:backup/vzdump-...)",
            required: true,
        }],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "policy",
        aliases: &[],
        summary: "Check the guests against the policy rules",
        usage: "/policy check [--on code|plan|live] [--format table|json|sarif|junit]",
        details: "Runs the rules of policies/*.yml (version: 1, a rules: list; each rule has id, severity error|warning|info,\n\
                  description, an optional `when` and an `assert`, CEL expressions over `guest`: name, kind, template, node, pool,\n\
                  tags, cores, sockets, vcpus, memory_mib, cpu_type, agent, disks, nics, started, on_boot, protection, backup, ha)\n\
                  plus the built-in starter pack (switch one off with `disabled: [ID]` in a policy file). --on code checks the\n\
                  .tf files (default), plan the guests /apply would change, live the cluster. --format sarif gives SARIF 2.1.0\n\
                  located at each guest's file and line; junit a CI report. Exits 1 when an error-level rule fails; /apply\n\
                  refuses such a plan unless --override-policy RULE.",
        flags: &[
            opt("on", "WHAT", "What to check: code (default), plan or live"),
            opt("format", "FORMAT", "table (default), json, sarif or junit"),
        ],
        positionals: &[PositionalSpec {
            name: "action",
            help: "check",
            required: false,
        }],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "rightsize",
        aliases: &[],
        summary: "Recommend CPU and memory sizes from the guests' usage",
        usage: "/rightsize [--window day|week|month] [--apply-to-code] [--json]",
        details: "Reads each running guest's RRD data (average and peak) over the window (default week) and recommends, per guest\n\
                  and resource, shrink, grow or keep: the 95th percentile plus 30% headroom; idle guests (CPU under 5%, memory\n\
                  under 25%) and memory-starved ones (90% or more) are named. Each recommendation has its evidence, a confidence\n\
                  and the monthly saving (/cost's prices). A VM's memory without the guest agent is marked unreliable.\n\
                  --apply-to-code writes the reliable recommendations into the files (as `set`); /plan then shows them.",
        flags: &[
            opt(
                "window",
                "WINDOW",
                "How far back to look: day, week (default) or month",
            ),
            flag(
                "apply-to-code",
                "Write the recommended sizes into the guests' files",
            ),
        ],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "cost",
        aliases: &[],
        summary: "Show what the guests cost per month, and what right-sizing saves",
        usage: "/cost [--json]",
        details: "Prices every guest per month from config.yml's `cost:` (per_vcpu, per_gib_memory, per_gib_disk, or nodes:\n\
                  NODE: price per node, shared by its running guests' allocation; currency). Without it the defaults are 4.00 per\n\
                  vCPU, 2.00 per GiB of memory and 0.05 per GiB of disk (USD), and the report says so. A running guest pays for\n\
                  vCPUs, memory and disks; a stopped guest or a template for its disks. Totals per guest, pool, tag and node, and\n\
                  the monthly savings of /rightsize's recommendations (last week).",
        flags: &[],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "overview",
        aliases: &[],
        summary: "Show code versus cluster: nodes, and every guest with its badge",
        usage: "/overview [GUEST] [-o table|json|yaml]",
        details: "Reads the cluster and compares it with the files as /drift does, writing nothing. Lists the nodes with their\n\
                  CPU load and memory and every guest with one badge: in-sync (its file matches the server), drifted (the\n\
                  server moved, or the guest is gone), pending (the file moved: /apply changes or creates it) or unmanaged (no\n\
                  file describes it; /sync writes one). With GUEST, that guest's fields side by side: the file, the server\n\
                  and the last sync, each drifted or pending field marked. The dashboard's first page and guest view.",
        flags: &[],
        positionals: &[PositionalSpec {
            name: "guest",
            help: "One guest, by name or vmid: its fields side by side",
            required: false,
        }],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "metrics",
        aliases: &[],
        summary: "Show a guest's CPU, memory, network and disk over the last hour, day or week",
        usage: "/metrics GUEST [--timeframe hour|day|week] [-o json]",
        details: "Reads the guest's round-robin database on its node (PVE's rrddata, averages) and prints each series' lowest,\n\
                  average and highest value; -o json gives every point (time, cpu, mem, maxmem, netin, netout, diskread,\n\
                  diskwrite), which the dashboard draws.",
        flags: &[opt("timeframe", "hour|day|week", "How far back (default hour)")],
        positionals: &[PositionalSpec {
            name: "guest",
            help: "The guest, by name or vmid",
            required: true,
        }],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "definition",
        aliases: &[],
        summary: "Show a guest's definition: its file, and the fields an editor changes",
        usage: "/definition GUEST [-o json]",
        details: "Shows the guest's file (path and text) and the values of the fields the dashboard's editor offers. Over the\n\
                  API and MCP it also edits: `set` (form fields, each checked on its own by the same language as `set vm`)\n\
                  or `hcl` (the whole file, checked by the same reader as /plan, keeping the guest's vmid). A refused edit\n\
                  writes nothing and names each field that is wrong; in the console, edit with `set vm|container` or in the\n\
                  file itself.",
        flags: &[],
        positionals: &[PositionalSpec {
            name: "guest",
            help: "The guest, by name or vmid",
            required: true,
        }],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "audit",
        aliases: &[],
        summary: "Show the audit log: who changed what, from where",
        usage: "/audit [--since TIME] [--origin console|cli|api|mcp] [--actor NAME] [--verify] [--export FILE] [--json]",
        details: "Lists the audit log oldest first: applies, actions on guests, drift found, policy overrides, /init, and one\n\
                  `call` row for every operation the REST API or the MCP server ran (reads included, refusals with their reason).\n\
                  Each row names its origin (the front end) and actor (a user, an API token's name, an MCP client's name). No\n\
                  request input is kept, so no secret a client sent lands here. The log is a hash chain: --verify checks it and\n\
                  exits 1 naming the first entry edited or removed; --export FILE writes the entries with their hashes as JSON\n\
                  lines (from the console or the command line only). See docs/team.md.",
        flags: &[
            opt(
                "since",
                "TIME",
                "Only entries at or after: 30m, 2h, 3d, 1w, a date or RFC 3339",
            ),
            opt(
                "origin",
                "ORIGIN",
                "Only entries from this front end: console, cli, api, mcp",
            ),
            opt(
                "actor",
                "NAME",
                "Only entries of this actor (a user, an API token's name, an MCP client's name)",
            ),
            flag(
                "verify",
                "Check the hash chain; exit 1 naming the first entry edited or removed",
            ),
            opt(
                "export",
                "FILE",
                "Write the entries with their hashes to FILE as JSON lines",
            ),
        ],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "env",
        aliases: &[],
        summary: "List, add, switch and remove the clusters (environments) of this workspace",
        usage: "/env [list] | /env add NAME --endpoint URL --token-id ID (--secret-env VAR | --secret-file PATH) [--fingerprint FP | --ca-file PATH | --insecure] [--yes] [--protected] | /env use NAME | /env show NAME | /env remove NAME [--yes]",
        details: "Each environment is one cluster with its own files and state: the default one keeps terraform/, ansible/, tests/,
                  docs/ and .proxmox/state.db at the workspace root; another NAME has the same layout in environments/NAME/.
                  add tests the connection and pins the certificate (as /init) before anything is written. use makes NAME the
                  active one (shown in the prompt); `proxmox-mpc --env NAME COMMAND` runs one command against NAME instead.
                  remove refuses the active environment. config.yml's environments.NAME.map renames nodes, storages and bridges
                  for /promote (docs/environments.md).",
        flags: &[
            opt("endpoint", "URL", "add: Proxmox VE API address"),
            opt("token-id", "USER@REALM!NAME", "add: API token id"),
            opt(
                "secret-env",
                "VAR",
                "add: read the token secret from this environment variable",
            ),
            opt(
                "secret-file",
                "PATH",
                "add: read the token secret from this file",
            ),
            opt(
                "fingerprint",
                "SHA256",
                "add: pin this certificate fingerprint",
            ),
            opt(
                "ca-file",
                "PATH",
                "add: trust the server's certificate through this CA file",
            ),
            flag(
                "insecure",
                "add: do not verify the server's certificate (unsafe)",
            ),
            flag("protected", "add: mark it a production environment"),
            YES,
        ],
        positionals: &[
            PositionalSpec {
                name: "action",
                help: "list, add, use, remove or show",
                required: false,
            },
            PositionalSpec {
                name: "name",
                help: "The environment's name",
                required: false,
            },
        ],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "promote",
        aliases: &[],
        summary: "Copy guests' definitions to another environment (names mapped, VMIDs free there)",
        usage: "/promote GUEST[,GUEST...] --to ENV [--from ENV]",
        details: "Reads each guest's file in the source environment (default: the active one), renames its node, storages and
                  bridges through config.yml's environments.ENV.map (a name without an entry must exist on ENV's cluster as it
                  is, from ENV's last /sync), chooses a VMID free on ENV, writes the file into ENV's root module (no import
                  block: the guest is new there) and shows ENV's plan. `proxmox-mpc --env ENV apply` creates it. It refuses,
                  writing nothing, when ENV has another guest of that name or a name has no mapping.",
        flags: &[
            opt("from", "ENV", "The environment to copy from (default: the active one)"),
            opt("to", "ENV", "The environment to copy to"),
        ],
        positionals: &[PositionalSpec {
            name: "guests",
            help: "The guests' names or VMIDs, comma-separated",
            required: true,
        }],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "export",
        aliases: &[],
        summary: "Write one environment as a self-contained bundle for another server",
        usage: "/export --to DIR [--env NAME] [--format dir|tar.gz]",
        details: "The bundle holds the environment's Terraform root module (guests as new ones: no import blocks, no volume
                  names or MAC addresses of this cluster), NAME.tfvars, the Ansible inventory and playbooks, tests/, docs/ and a
                  README with the commands. No secret, no state, no absolute path. `/init --from-bundle DIR` starts a workspace
                  for another cluster from it. --format tar.gz writes DIR as one archive instead.",
        flags: &[
            opt("env", "NAME", "The environment to export (default: the active one)"),
            opt("to", "DIR", "Where to write the bundle (a new or empty folder)"),
            opt("format", "FORMAT", "dir (default) or tar.gz"),
        ],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "ci",
        aliases: &[],
        summary: "Write CI/CD pipelines that plan on review, apply what was reviewed, catch drift",
        usage: "/ci github|gitlab [--runner LABEL,...] [--env NAME,...] [--force] | /ci comment PLAN_FILE",
        details: "github writes .github/workflows/proxmox-mpc.yml (pull request: /test, policy SARIF to code scanning, plan per\n\
                  environment with one sticky comment and the plan as an artifact; push to main: apply the reviewed plan behind\n\
                  the protected environment, one at a time) and proxmox-mpc-drift.yml (schedule: /drift, one issue opened, updated\n\
                  and closed). gitlab writes .gitlab-ci.yml with the same jobs (manual apply, resource_group). Jobs run on\n\
                  self-hosted runners unless --runner names labels; the token secret comes from the platform's secret store into\n\
                  the variable config.yml's env: secret names. A pipeline file proxmox-mpc did not write is kept unless --force.\n\
                  `ci comment PLAN_FILE` prints a plan file (from `plan --out`) as a review comment in markdown.",
        flags: &[
            opt(
                "runner",
                "LABEL,...",
                "Runner labels the jobs run on (default: self-hosted)",
            ),
            opt(
                "env",
                "NAME,...",
                "Environments to plan and apply (default: the active one)",
            ),
            flag(
                "force",
                "Overwrite a pipeline file that proxmox-mpc did not write",
            ),
        ],
        positionals: &[
            PositionalSpec {
                name: "action",
                help: "github, gitlab or comment",
                required: false,
            },
            PositionalSpec {
                name: "file",
                help: "With `comment`: the plan file `plan --out` wrote",
                required: false,
            },
        ],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "token",
        aliases: &[],
        summary: "Create, list or revoke the REST API's tokens (proxmox-mpc serve)",
        usage: "/token create NAME --role viewer|operator|admin [--env ENV] [--expires DURATION] | /token list | /token revoke NAME",
        details: "create makes a bearer token for `proxmox-mpc serve` and prints it once, alone on the last line of stdout; state.db\n\
                  keeps only its SHA-256. viewer reads, operator also changes the files and the cluster, admin may do everything\n\
                  (tokens, environments, configuration). --expires 12h|30d|8w limits its life; --env limits it to one environment.\n\
                  list shows the tokens (never the token itself), revoke NAME refuses it from then on. Each is audited.",
        flags: &[
            opt("role", "ROLE", "create: viewer, operator or admin"),
            opt("env", "ENV", "create: limit the token to this environment"),
            opt(
                "expires",
                "DURATION",
                "create: the token stops working after 12h, 30d, 8w...",
            ),
        ],
        positionals: &[
            PositionalSpec {
                name: "action",
                help: "create, list (default) or revoke",
                required: false,
            },
            PositionalSpec {
                name: "name",
                help: "The token's name (create, revoke)",
                required: false,
            },
        ],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "state",
        aliases: &[],
        summary: "Show where the state is, or move it to PostgreSQL and back",
        usage: "/state [show] | /state migrate --to postgres://USER@HOST:PORT/DB|sqlite [--password env:VAR] [--force]",
        details: "show names where the shared state is (the local .proxmox/state.db, or the team's PostgreSQL from config.yml's\n\
                  state.url) with its rows per table. migrate copies every row of the shared tables (snapshots, plans, journal,\n\
                  audit log, managed guests, sync base, API tokens, roles) into the target in one transaction, checks each table\n\
                  equal (rows and content hash), then points config.yml's state at it; the source is left as it was. A target\n\
                  holding rows is refused unless --force. The password is read from --password (env:, file:, vault:), never\n\
                  written anywhere. See docs/team.md.",
        flags: &[
            opt(
                "to",
                "TARGET",
                "migrate: postgres://USER@HOST:PORT/DB (no password in it), or sqlite",
            ),
            opt(
                "password",
                "REF",
                "migrate: where the target's password is read from: env:VAR, file:PATH, vault:MOUNT/PATH#FIELD",
            ),
            flag("force", "migrate: replace the rows a non-empty target holds"),
        ],
        positionals: &[PositionalSpec {
            name: "action",
            help: "show (default) or migrate",
            required: false,
        }],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "unlock",
        aliases: &[],
        summary: "Release the workspace lock a dead or stuck process holds (admins)",
        usage: "/unlock --force",
        details: "apply, sync and rollback hold the workspace's lock while they run; another copy is refused naming the holder\n\
                  (user@host, pid, operation, since). A holder that died is released by itself after its TTL (60 s, or\n\
                  PMPC_LOCK_TTL_SECS). --force releases it now; only an admin may, and it is audited. See docs/team.md.",
        flags: &[flag(
            "force",
            "Release the lock although its holder may still be running",
        )],
        positionals: &[],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "role",
        aliases: &[],
        summary: "Grant, revoke or list who may do what in shared state",
        usage: "/role list | /role grant ID viewer|operator|admin | /role revoke ID",
        details: "Identities are the PVE token ids in use (config.yml's token_id, user@realm!name). viewer reads, plans and tests;\n\
                  operator also applies and acts on guests in environments not marked protected; admin may do everything\n\
                  (protected environments, /unlock --force, roles). In a local workspace the person at the console is admin; in\n\
                  shared state the first identity to use an empty database becomes admin and others need a grant. grant and\n\
                  revoke are for admins and audited. See docs/team.md.",
        flags: &[],
        positionals: &[
            PositionalSpec {
                name: "action",
                help: "list (default), grant or revoke",
                required: false,
            },
            PositionalSpec {
                name: "identity",
                help: "grant, revoke: a PVE token id (user@realm!name)",
                required: false,
            },
            PositionalSpec {
                name: "role",
                help: "grant: viewer, operator or admin",
                required: false,
            },
        ],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "serve",
        aliases: &[],
        summary: "Serve the workspace's operations as a REST API with live events",
        usage: "proxmox-mpc serve [--listen 127.0.0.1:7780] [--tls-cert FILE --tls-key FILE | --tls-self-signed] [--rate-limit N]",
        details: "Every operation under /api/v1/ (JSON in, the report's data out; errors as RFC 9457 problem documents), live\n\
                  events on /api/v1/events (WebSocket, or /api/v1/events/sse), the OpenAPI document at /api/v1/openapi.json and\n\
                  a docs page at /api/docs. Callers send `Authorization: Bearer TOKEN` (/token create); the token's role decides\n\
                  what it may run. Listens on 127.0.0.1:7780 by default; another address needs TLS and at least one token.\n\
                  Webhooks (inbound hooks, outbound notify) are configured in .proxmox/serve.yml (docs/serve.md).",
        flags: &[
            opt(
                "listen",
                "ADDR",
                "Address and port to listen on (default 127.0.0.1:7780)",
            ),
            opt(
                "tls-cert",
                "FILE",
                "Serve HTTPS with this PEM certificate chain",
            ),
            opt("tls-key", "FILE", "The PEM private key of --tls-cert"),
            flag(
                "tls-self-signed",
                "Serve HTTPS with a new self-signed certificate (its fingerprint is printed)",
            ),
            opt(
                "rate-limit",
                "N",
                "Requests per minute one client address may make (default 1200)",
            ),
        ],
        positionals: &[],
        scope: Scope::Cli,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "ask",
        aliases: &[],
        summary: "Say what you want in words; see the commands and their plan, then confirm",
        usage: "/ask TEXT (or ? TEXT) | proxmox-mpc ask TEXT [--yes]",
        details: "Turns a request in words into this console's own commands (resource commands and slash commands, never shell),\n\
                  shows them, and shows the plan the file-changing ones would make (made in a scratch copy of the workspace).\n\
                  Commands that only read run at once; each command that changes something waits for yes, no or edit LINE\n\
                  (`all` accepts the rest of a built-in proposal). Whether a command changes anything comes from the registry,\n\
                  never from the model. Without `ai:` in config.yml a built-in parser knows common phrasings (create three web\n\
                  servers with 4 GB each on pve2, stop all lab vms, give db-01 two more cores, snapshot every prod guest before\n\
                  the upgrade, which vms are stopped); with `ai: {endpoint, model, key}` any OpenAI-compatible endpoint is asked,\n\
                  given the operations as tools and the workspace's names as quoted data, never a secret. One-shot\n\
                  `proxmox-mpc ask TEXT` only shows; --yes runs them. docs/ask.md has the details.",
        flags: &[flag(
            "yes",
            "Run the proposed commands that change something (one-shot)",
        )],
        positionals: &[PositionalSpec {
            name: "request",
            help: "What you want, in words",
            required: false,
        }],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
    CommandSpec {
        name: "explain",
        aliases: &[],
        summary: "Explain the last error, failed test or plan, with the next commands to try",
        usage: "/explain [error|plan]",
        details: "error (the default): the last command that failed in the console, a failed /test included; plan: the last\n\
                  plan. Without `ai:` in config.yml it restates the error with the project's own hints and the commands they\n\
                  name; with a model it adds a short explanation. Suggested commands are shown, never run.",
        flags: &[],
        positionals: &[PositionalSpec {
            name: "what",
            help: "error (default) or plan",
            required: false,
        }],
        scope: Scope::Both,
        availability: Availability::Ready,
    },
];

/// Returns the command called `name` (or one of its aliases); a leading `/` is ignored.
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    let name = name.strip_prefix('/').unwrap_or(name);
    COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name))
}

/// Returns the console command names closest to `name`, best first (at most three).
pub fn suggest(name: &str) -> Vec<&'static str> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut scored: Vec<(f64, &'static str)> = COMMANDS
        .iter()
        .filter(|c| c.scope != Scope::Cli)
        .flat_map(|c| {
            std::iter::once(c.name)
                .chain(c.aliases.iter().copied())
                .map(move |n| (n, c.name))
        })
        .map(|(candidate, canonical)| (strsim::jaro_winkler(name, candidate), canonical))
        .filter(|(score, _)| *score >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out = Vec::new();
    for (_, n) in scored {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out.truncate(3);
    out
}

/// The flags every data command accepts inside the console (on the command line they are
/// global flags of `proxmox-mpc`).
pub fn output_flags() -> [Arg; 3] {
    [
        // Per line in the console, as `-v` is for the whole process on the command line.
        Arg::new("verbose")
            .short('v')
            .long("verbose")
            .action(ArgAction::SetTrue)
            .help("Show long lists whole instead of summarised"),
        Arg::new("output")
            .short('o')
            .long("output")
            .value_name("FORMAT")
            .value_parser(["table", "json", "yaml"])
            .help("How to render data: table, json or yaml"),
        Arg::new("json")
            .long("json")
            .action(ArgAction::SetTrue)
            .help("Shorthand for --output json"),
    ]
}

/// Returns the clap command for `spec`. `in_console` adds the output flags, which on the
/// command line are global.
pub fn clap_command(spec: &CommandSpec, in_console: bool) -> clap::Command {
    let mut cmd = clap::Command::new(spec.name)
        .about(spec.summary)
        .long_about(format!("{}\n\n{}", spec.summary, spec.details))
        .visible_aliases(
            spec.aliases
                .iter()
                .filter(|a| a.chars().all(char::is_alphanumeric))
                .copied(),
        );
    for f in spec.flags {
        let mut arg = Arg::new(f.long).long(f.long).help(f.help);
        if let Some(short) = f.short {
            arg = arg.short(short);
        }
        arg = match f.value {
            Some(value) => arg.value_name(value).action(ArgAction::Set),
            None => arg.action(ArgAction::SetTrue),
        };
        cmd = cmd.arg(arg);
    }
    for (index, p) in spec.positionals.iter().enumerate() {
        let mut arg = Arg::new(p.name)
            .help(p.help)
            .required(p.required)
            .index(index + 1);
        // `ask make me an app server`: the words of a request need no quotes.
        if p.name == "request" {
            arg = arg.num_args(1..);
        }
        cmd = cmd.arg(arg);
    }
    if in_console {
        cmd = cmd
            .no_binary_name(true)
            .disable_help_flag(false)
            .args(output_flags());
    }
    cmd
}

/// Registry commands whose clap definition is derived in the front end (`cli.rs`): the
/// simulator and shell completions take typed arguments clap derives.
pub const DERIVED_IN_CLI: &[&str] = &["sim", "completions"];

/// Returns the clap subcommands for the command line: every registry operation callable there
/// (the resource verbs take the words after them, as the console does).
pub fn cli_subcommands() -> Vec<clap::Command> {
    let mut out: Vec<clap::Command> = COMMANDS
        .iter()
        .filter(|c| c.scope != Scope::Console && !DERIVED_IN_CLI.contains(&c.name))
        .map(|c| clap_command(c, false))
        .collect();
    for verb in verbs() {
        let aliases: Vec<&'static str> = crate::lang::VERBS
            .iter()
            .filter(|(w, v)| *v == verb && *w != verb.as_str())
            .map(|(w, _)| *w)
            .collect();
        let cmd = clap::Command::new(verb_name(verb))
            .about(verb_summary(verb))
            .visible_aliases(aliases)
            .arg(
                Arg::new("words")
                    .num_args(0..)
                    .trailing_var_arg(true)
                    .allow_hyphen_values(true)
                    .value_name("WORDS")
                    .help("What to act on and its flags, as in the console: vm web-01 --memory 4G"),
            );
        out.push(cmd);
    }
    out
}

/// Parses the words after a console command name.
pub fn parse_console_args(spec: &CommandSpec, words: &[String]) -> Result<ArgMatches, clap::Error> {
    clap_command(spec, true)
        .override_usage(spec.usage)
        .try_get_matches_from(words)
}

/// Returns `/help`'s list: one line per console command.
pub fn help_list() -> String {
    // One column for both lists: `/name` and the verbs line up.
    let slash = COMMANDS
        .iter()
        .filter(|c| c.scope != Scope::Cli)
        .map(|c| c.name.len() + 1)
        .max()
        .unwrap_or(0);
    let verb = verbs().iter().map(|v| v.as_str().len()).max().unwrap_or(0);
    let column = slash.max(verb) + 1;
    let width = column - 1;
    let mut out = String::from("Commands:\n");
    for c in COMMANDS.iter().filter(|c| c.scope != Scope::Cli) {
        let note = if c.availability == Availability::Planned {
            " (not available yet)"
        } else {
            ""
        };
        out.push_str(&format!("  /{:<width$} {}{note}\n", c.name, c.summary));
    }
    out.push_str("\nResource commands (no slash; they edit the files or act on a guest now):\n");
    let verbs = verbs();
    let vwidth = column;
    for verb in verbs {
        // The console spells a guest-snapshot rollback `rollback`.
        let word = if verb == Verb::Rollback {
            "rollback"
        } else {
            verb_name(verb)
        };
        out.push_str(&format!("  {word:<vwidth$} {}\n", verb_summary(verb)));
    }
    out.push_str(
        "\nAlso: `!COMMAND` runs a shell command in the workspace. /help COMMAND explains one command\n\
         (/help create: the resource grammar). Ctrl-C cancels, Ctrl-L or /clear clears the screen, Ctrl-D or /exit leaves.",
    );
    out
}

/// Returns `/help <command>`'s text.
pub fn help_for(spec: &CommandSpec) -> String {
    let mut out = format!(
        "/{} — {}\n\nUsage: {}\n",
        spec.name, spec.summary, spec.usage
    );
    if !spec.aliases.is_empty() {
        let aliases: Vec<String> = spec.aliases.iter().map(|a| format!("/{a}")).collect();
        out.push_str(&format!("Aliases: {}\n", aliases.join(", ")));
    }
    out.push('\n');
    out.push_str(spec.details);
    out.push('\n');
    if !spec.flags.is_empty() || !spec.positionals.is_empty() {
        out.push_str("\nFlags:\n");
        for p in spec.positionals {
            out.push_str(&format!("  {:<28} {}\n", p.name.to_uppercase(), p.help));
        }
        for f in spec.flags {
            let name = match (f.short, f.value) {
                (Some(s), Some(v)) => format!("-{s}, --{} {v}", f.long),
                (Some(s), None) => format!("-{s}, --{}", f.long),
                (None, Some(v)) => format!("--{} {v}", f.long),
                (None, None) => format!("--{}", f.long),
            };
            out.push_str(&format!("  {name:<28} {}\n", f.help));
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique_and_help_is_filled() {
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            for n in std::iter::once(c.name).chain(c.aliases.iter().copied()) {
                assert!(seen.insert(n), "duplicate command name or alias {n}");
            }
            assert!(
                !c.summary.is_empty() && !c.summary.ends_with('.'),
                "{}",
                c.name
            );
            assert!(!c.usage.is_empty() && !c.details.is_empty(), "{}", c.name);
            for f in c.flags {
                assert!(!f.help.is_empty(), "{} --{}", c.name, f.long);
            }
            clap_command(c, true).debug_assert();
        }
    }

    #[test]
    fn suggests_the_closest_command() {
        assert_eq!(suggest("/snyc").first(), Some(&"sync"));
        assert_eq!(suggest("stauts").first(), Some(&"status"));
        assert!(suggest("zzzzzz").is_empty());
    }
}
