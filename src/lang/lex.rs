//! Tokenizing: a line into shell-style words, and the words after the verb into the kind word,
//! positional words and flags as typed. Nothing here knows which flags exist; `parse` decides
//! that once the verb and kind are known.

use super::error::GrammarError;

/// One flag as typed, before its spec is known.
pub(super) struct RawFlag {
    pub name: String,
    /// The inline value (`--name=web-01`) or the next word, which may turn out not to be the
    /// flag's value if the flag is a switch.
    pub value: Option<String>,
    /// Whether the value was written inline: a switch may not have one.
    pub inline: bool,
}

/// The words after the verb, sorted.
pub(super) struct Lexed {
    /// The first word before any flag: the kind (or what `list` lists).
    pub kind_word: Option<String>,
    pub positional: Vec<String>,
    pub raw_flags: Vec<RawFlag>,
}

/// Splits a line into words as a shell would (quotes group, backslashes escape).
pub(super) fn words(line: &str) -> Result<Vec<String>, GrammarError> {
    shlex::split(line).ok_or_else(|| {
        GrammarError::new("the line has an unclosed quote").hint("close the quote and try again")
    })
}

/// Returns whether `word` is a short flag: `-` and one letter (`-o`).
fn is_short_flag(word: &str) -> bool {
    word.len() == 2 && word.starts_with('-') && word[1..].chars().all(|c| c.is_ascii_alphabetic())
}

/// Sorts the words after the verb into the kind word, positional words and flags.
pub(super) fn split(rest: &[String]) -> Result<Lexed, GrammarError> {
    let mut positional = Vec::new();
    let mut i = 0;
    let mut kind_word: Option<String> = None;
    // The kind comes first; flags are checked once the kind is known.
    let mut raw_flags: Vec<RawFlag> = Vec::new();
    while i < rest.len() {
        let word = &rest[i];
        if let Some(body) = word.strip_prefix("--").or_else(|| {
            word.strip_prefix('-')
                .filter(|b| b.len() == 1 && b.chars().all(|c| c.is_ascii_alphabetic()))
        }) {
            if body.is_empty() {
                return Err(GrammarError::new("`--` alone is not a flag")
                    .hint("flags look like --name web-01"));
            }
            let (name, inline) = match body.split_once('=') {
                Some((n, val)) => (n.to_string(), Some(val.to_string())),
                None => (body.to_string(), None),
            };
            raw_flags.push(RawFlag {
                name,
                value: inline.clone(),
                inline: inline.is_some(),
            });
            i += 1;
            // The next word may be this flag's value; decided later with the flag's spec.
            if inline.is_none()
                && let Some(next) = rest.get(i)
                && !(next.starts_with("--") || is_short_flag(next))
            {
                raw_flags.last_mut().expect("just pushed").value = Some(next.clone());
                i += 1;
            }
            continue;
        }
        if kind_word.is_none() && raw_flags.is_empty() {
            kind_word = Some(word.clone());
        } else {
            positional.push(word.clone());
        }
        i += 1;
    }
    Ok(Lexed {
        kind_word,
        positional,
        raw_flags,
    })
}
