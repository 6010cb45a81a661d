//! Step 1: a line into [`Syntax`], checking only what the words alone can tell (known verb and
//! kind, flags this verb takes, values present where needed). Nothing is looked up here.

use super::error::{GrammarError, closest, q, q_flag};
use super::flags::{Takes, flags_for};
use super::lex::{self, RawFlag};
use super::words::{KINDS, Kind, LIST_WORDS, ListWhat, VERBS, Verb};

/// One flag as typed: `--name value`, `--name=value` or a bare switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

/// What the words of a line say, before anything is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syntax {
    pub verb: Verb,
    /// `None` only for `list`.
    pub kind: Option<Kind>,
    pub list: Option<ListWhat>,
    /// The guest or pool named after the kind.
    pub name: Option<String>,
    /// Further positional words (`rollback vm web-01 <snapshot>`).
    pub rest: Vec<String>,
    pub flags: Vec<Flag>,
}

impl Syntax {
    /// The value of the last `--name` given: a repeated flag overrides.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|f| f.name == name)
            .and_then(|f| f.value.as_deref())
    }

    /// Every value of a repeatable flag, in order.
    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|f| f.name == name)
            .filter_map(|f| f.value.as_deref())
            .collect()
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f.name == name)
    }
}

/// Step 1: the words of a line, checked on their own.
pub fn parse_syntax(line: &str) -> Result<Syntax, GrammarError> {
    parse_words(lex::words(line)?)
}

/// Step 1 for words a shell already split (`proxmox-mpc create vm --name web-01`).
pub fn parse_words(words: Vec<String>) -> Result<Syntax, GrammarError> {
    let mut words = words.into_iter();
    let Some(verb_word) = words.next() else {
        return Err(
            GrammarError::new("empty command").hint("try `list vms` or `create vm --name web-01`")
        );
    };
    let verb = verb_of(&verb_word)?;
    let rest: Vec<String> = words.collect();
    let lex::Lexed {
        kind_word,
        mut positional,
        raw_flags,
    } = lex::split(&rest)?;
    let (kind, list) = kind_of(verb, kind_word)?;
    check_kind_applies(verb, kind)?;
    let flags = check_flags(verb, kind, raw_flags, &mut positional)?;
    let mut positional = positional.into_iter();
    let name = positional.next();
    let rest: Vec<String> = positional.collect();
    Ok(Syntax {
        verb,
        kind,
        list,
        name,
        rest,
        flags,
    })
}

fn verb_of(verb_word: &str) -> Result<Verb, GrammarError> {
    let lower = verb_word.to_ascii_lowercase();
    if let Some(verb) = VERBS.iter().find(|(w, _)| *w == lower).map(|(_, v)| *v) {
        return Ok(verb);
    }
    let words: Vec<&str> = VERBS.iter().map(|(w, _)| *w).collect();
    let err = GrammarError::new(format!("unknown verb {}", q(verb_word)));
    Err(match closest(&lower, words.iter().copied()) {
        Some(best) => err.hint(format!("did you mean {best}?")),
        None => err.hint(format!("verbs: {}", words.join(", "))),
    })
}

/// The kind word as a kind, or for `list` as what it lists.
fn kind_of(
    verb: Verb,
    kind_word: Option<String>,
) -> Result<(Option<Kind>, Option<ListWhat>), GrammarError> {
    let Some(word) = kind_word else {
        let expected = if verb == Verb::List {
            "vms, containers, nodes, storages, networks or pools"
        } else {
            "vm, container or pool"
        };
        return Err(GrammarError::new(format!(
            "`{}` needs what to act on: {expected}",
            verb.as_str()
        ))
        .hint(example_for(verb)));
    };
    let lower = word.to_ascii_lowercase();
    if verb == Verb::List {
        if let Some((_, what)) = LIST_WORDS.iter().find(|(w, _)| *w == lower) {
            return Ok((None, Some(*what)));
        }
        let names = [
            "vms",
            "containers",
            "nodes",
            "storages",
            "networks",
            "pools",
        ];
        let mut err = GrammarError::new(format!(
            "cannot list {}; lists: {}",
            q(&word),
            names.join(", ")
        ));
        if let Some(best) = closest(&lower, names) {
            err = err.hint(format!("did you mean list {best}?"));
        }
        return Err(err);
    }
    let plural = lower.strip_suffix('s').unwrap_or(&lower);
    if let Some(k) = KINDS
        .iter()
        .find(|(w, _)| *w == lower || *w == plural)
        .map(|(_, k)| *k)
    {
        return Ok((Some(k), None));
    }
    let mut err = GrammarError::new(format!(
        "unknown kind {}; kinds: vm, container (ct, lxc), pool",
        q(&word)
    ));
    if let Some(best) = closest(&lower, KINDS.iter().map(|(w, _)| *w)) {
        err = err.hint(format!("did you mean {} {best}?", verb.as_str()));
    }
    Err(err)
}

/// Refuses a kind the verb does not work on (`clone pool`, `start pool`).
fn check_kind_applies(verb: Verb, kind: Option<Kind>) -> Result<(), GrammarError> {
    let allowed_kinds: &[Kind] = match verb {
        Verb::Create | Verb::Delete | Verb::Show | Verb::List => {
            &[Kind::Vm, Kind::Container, Kind::Pool]
        }
        Verb::Migrate | Verb::Set | Verb::Start | Verb::Stop | Verb::Shutdown | Verb::Reboot => {
            &[Kind::Vm, Kind::Container]
        }
        Verb::Snapshot | Verb::Snapshots | Verb::Rollback => &[Kind::Vm, Kind::Container],
        Verb::Clone => &[Kind::Vm],
    };
    if let Some(k) = kind
        && !allowed_kinds.contains(&k)
    {
        let names: Vec<&str> = allowed_kinds.iter().map(|k| k.as_str()).collect();
        return Err(GrammarError::new(format!(
            "`{}` does not apply to a {}; it works on: {}",
            verb.as_str(),
            k.as_str(),
            names.join(", ")
        )));
    }
    Ok(())
}

/// Step 1 for a caller that has the parts already (the operations layer's typed requests):
/// the same checks as [`parse_syntax`] on a verb, a kind word, positional words and flags,
/// without writing a line to parse.
pub fn syntax_of(
    verb: Verb,
    kind_word: Option<String>,
    positional: Vec<String>,
    flags: Vec<(String, Option<String>)>,
) -> Result<Syntax, GrammarError> {
    let (kind, list) = kind_of(verb, kind_word)?;
    check_kind_applies(verb, kind)?;
    let raw_flags = flags
        .into_iter()
        .map(|(name, value)| RawFlag {
            name,
            value,
            inline: true,
        })
        .collect();
    let mut positional = positional;
    let flags = check_flags(verb, kind, raw_flags, &mut positional)?;
    let mut positional = positional.into_iter();
    Ok(Syntax {
        verb,
        kind,
        list,
        name: positional.next(),
        rest: positional.collect(),
        flags,
    })
}

/// Checks each typed flag against the verb's specs. A word taken after a switch was not its
/// value after all: it goes back to `positional`.
fn check_flags(
    verb: Verb,
    kind: Option<Kind>,
    raw_flags: Vec<RawFlag>,
    positional: &mut Vec<String>,
) -> Result<Vec<Flag>, GrammarError> {
    let specs = flags_for(verb, kind);
    let mut flags: Vec<Flag> = Vec::new();
    for RawFlag {
        name,
        value,
        inline,
    } in raw_flags
    {
        let Some(spec) = specs.iter().find(|f| f.name == name) else {
            let what = match kind {
                Some(k) => format!("{} {}", verb.as_str(), k.as_str()),
                None => verb.as_str().to_string(),
            };
            let mut err = GrammarError::new(format!("unknown flag --{} for {what}", q_flag(&name)));
            err = match closest(&name, specs.iter().map(|f| f.name)) {
                Some(best) => err.hint(format!("did you mean --{best}?")),
                None if specs.is_empty() => err.hint(format!("{what} takes no flags")),
                None => {
                    let names: Vec<String> =
                        specs.iter().map(|f| format!("--{}", f.name)).collect();
                    err.hint(format!("flags: {}", names.join(" ")))
                }
            };
            return Err(err);
        };
        match (spec.takes, value) {
            (Takes::Value, None) => {
                return Err(GrammarError::new(format!(
                    "--{name} needs a value, e.g. --{name} {}",
                    spec.example
                )));
            }
            (Takes::Value, Some(value)) => flags.push(Flag {
                name,
                value: Some(value),
            }),
            (Takes::Switch, Some(value)) if inline => {
                return Err(GrammarError::new(format!(
                    "--{name} is a switch and takes no value (got {})",
                    q(&value)
                )));
            }
            (Takes::Switch, Some(value)) => {
                // The word after a switch was not its value: it is positional.
                flags.push(Flag { name, value: None });
                positional.push(value);
            }
            (Takes::Switch, None) => flags.push(Flag { name, value: None }),
        }
    }
    Ok(flags)
}

/// An example line for a verb, offered when a line lacks what the verb needs.
pub(super) fn example_for(verb: Verb) -> String {
    match verb {
        Verb::Create => "e.g. create vm --name web-01 --memory 2G".into(),
        Verb::List => "e.g. list vms --node pve1".into(),
        Verb::Migrate => "e.g. migrate vm web-01 --to pve2".into(),
        Verb::Rollback => "e.g. rollback vm web-01 before_upgrade".into(),
        Verb::Clone => "e.g. clone vm web-01 --name web-02".into(),
        Verb::Set => "e.g. set vm web-01 --memory 4G".into(),
        other => format!("e.g. {} vm web-01", other.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_gives_back_the_word_it_took() {
        let s = parse_syntax("create vm --name=web-01 --start extra").unwrap();
        assert_eq!(s.kind, Some(Kind::Vm));
        assert_eq!(s.get("name"), Some("web-01"));
        assert!(s.has("start"));
        assert_eq!(s.name.as_deref(), Some("extra"));
    }

    #[test]
    fn a_switch_refuses_an_inline_value() {
        let e = parse_syntax("create vm --start=yes").unwrap_err();
        assert_eq!(
            e.message,
            "--start is a switch and takes no value (got 'yes')"
        );
    }
}
