//! Refusals: [`GrammarError`], and the helpers every message uses to quote what the user typed
//! and to list or suggest the valid choices.

/// A refused line: what is wrong, and optionally what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarError {
    pub message: String,
    pub hint: Option<String>,
}

impl GrammarError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub(super) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for GrammarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GrammarError {}

/// Returns the closest of `candidates` to `word`, if it is close enough to suggest.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        // Ties go to the first in order (pve1 before pve3).
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

/// Quotes user text for a message: at most 40 characters, control characters escaped.
pub(super) fn q(text: &str) -> String {
    let mut out: String = text.chars().take(40).flat_map(char::escape_debug).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    format!("'{out}'")
}

/// A flag name for a message: at most 40 characters, control characters escaped, unquoted
/// because it follows `--`.
pub(super) fn q_flag(name: &str) -> String {
    let text: String = name.chars().take(40).flat_map(char::escape_debug).collect();
    text
}

/// Lists choices for a message; long lists are cut after 12 so the line stays readable.
pub(super) fn list_of(items: &[String]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    if items.len() > 12 {
        let mut head: Vec<String> = items[..12].to_vec();
        head.push(format!("… ({} in all)", items.len()));
        return head.join(", ");
    }
    items.join(", ")
}
