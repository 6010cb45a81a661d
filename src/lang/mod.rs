//! The resource-command language: `<verb> <kind> [name] [--flags]`, parsed in two pure steps.
//!
//! 1. [`parse_syntax`] turns a line into [`Syntax`] (verb, kind, name, positional words and
//!    flags) and checks only what the words alone can tell: known verb and kind, flags this verb
//!    takes, values present where needed.
//! 2. [`validate`] checks the syntax against a [`World`] (the workspace's desired guests, the
//!    last observed snapshot and config.yml's defaults) and returns an [`Intent`]: for `create`
//!    and `clone` the complete model guest to write, for `set` the changed guest, for the other
//!    verbs the resolved target.
//!
//! Neither step reads a file or the network, so both are table-tested. Every refusal is a
//! [`GrammarError`] whose message names what is wrong and the valid choices or the closest one
//! ("no node 'pve4'; nodes: pve1, pve2, pve3").
//!
//! The module also owns what the language tells the user about itself: the help text
//! ([`help_text`]) and completion candidates ([`complete`]).
//!
//! It is a domain room: it speaks only of [`crate::model`] types and knows nothing of the
//! console, the one-shot CLI or the commands that carry an intent out, so both front ends can
//! share it without a dependency circle.
//!
//! Files, one concern each:
//! - `error`: [`GrammarError`] and the helpers that quote user text in messages;
//! - `words`: the vocabulary (verbs, kinds, `list` words);
//! - `flags`: the flags each verb takes;
//! - `lex`, `parse`: step 1, a line into [`Syntax`];
//! - `units`: sizes and counts;
//! - `values`: flag values that need no world (names, tags, disk and NIC specs, addresses);
//! - `world`: [`World`] and the lookups against it (nodes, storages, bridges, pools, guests);
//! - `intent`: the typed result, [`Intent`];
//! - `validate`: step 2, the dispatch per verb; `place`, `create`, `set` hold the big verbs;
//! - `help`, `complete`: help text and completion data.

mod complete;
mod create;
mod error;
mod flags;
mod help;
mod intent;
mod lex;
mod parse;
mod place;
mod set;
mod units;
mod validate;
mod values;
mod words;
mod world;

pub use complete::{Names, complete};
pub use error::{GrammarError, closest};
pub use flags::{ResourceFlag, flags_for};
pub use help::help_text;
pub use intent::{Intent, ListQuery, MigrateTo, NewGuest, RemoteMove, Target};
pub use parse::{Flag, Syntax, parse_syntax, parse_words, syntax_of};
pub use units::{human_size, parse_size};
pub use validate::validate;
pub use values::{is_disk_slot, valid_dns_name};
pub use words::{KINDS, Kind, LIST_WORDS, ListWhat, VERBS, Verb};
pub use world::{PlacementDefaults, VMID_MAX, VMID_MIN, World};

/// Parses and validates one line.
pub fn parse(line: &str, world: &World<'_>) -> Result<Intent, GrammarError> {
    validate(&parse_syntax(line)?, world)
}
