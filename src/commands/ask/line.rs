//! A proposed command line and the typed request it is: every proposal, from the built-in
//! parser or from a model's tool call, becomes a line of this console's own language, parsed by
//! the console's own parser ([`crate::lang`] for resource commands, the registry's clap
//! definition for slash commands). What the line may change is the registry's fixed rule
//! ([`Request::access`]), never the proposer's word.

use crate::commands::access::Access;
use crate::commands::registry::{self, Scope};
use crate::commands::request::{FlagValue, Request, ResourceRequest};
use crate::error::CommandError;
use crate::lang;

/// One proposed command: the line shown (and run), its request and what it may change.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposed {
    pub line: String,
    pub request: Request,
    pub access: Access,
}

impl Proposed {
    /// True when it changes anything (files, cluster): it waits for a confirmation.
    pub fn mutates(&self) -> bool {
        self.access.mutates()
    }
}

/// Operations a proposal never names: the natural-language commands themselves (no loops),
/// and what exists only at the console's prompt.
const NOT_PROPOSED: &[&str] = &["ask", "explain", "exit", "clear", "tour"];

/// Parses a proposed line into a [`Proposed`], refusing shell, unknown commands, commands of
/// the command line only, and anything of [`Access::Admin`] (tokens, environments, config,
/// init: those are typed by a person, never proposed).
pub fn proposed(line: &str) -> Result<Proposed, CommandError> {
    let line = line.trim();
    let request = request_of_line(line)?;
    let access = request.access();
    if access == Access::Admin {
        return Err(CommandError::user(format!(
            "`{line}` changes the workspace's configuration or access; ask never proposes that"
        ))
        .hint("type the command yourself if you mean it (/help lists them)"));
    }
    Ok(Proposed {
        line: line.to_string(),
        request,
        access,
    })
}

/// The request a console line is, parsed exactly as the console parses it.
pub fn request_of_line(line: &str) -> Result<Request, CommandError> {
    // Shown without its control characters: a proposal may come from a model.
    let shown: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let refuse = |why: &str| {
        CommandError::user(format!("`{shown}` is not a proposal ask can run: {why}"))
            .hint("proposals are this console's own commands; /help lists them")
    };
    if line.is_empty() {
        return Err(refuse("it is empty"));
    }
    if line.starts_with('!') {
        return Err(refuse("it is a shell command, and ask never runs shell"));
    }
    if line.chars().any(char::is_control) {
        return Err(refuse(
            "it holds control characters (a line break, an escape)",
        ));
    }
    if let Some(rest) = line.strip_prefix('/') {
        let words = shlex::split(rest).ok_or_else(|| refuse("it has an unclosed quote"))?;
        let Some((name, args)) = words.split_first() else {
            return Err(refuse("no command follows /"));
        };
        let Some(spec) = registry::lookup(name) else {
            return Err(refuse(&format!("/{name} is not a command of the registry")));
        };
        if spec.scope != Scope::Both || NOT_PROPOSED.contains(&spec.name) {
            return Err(refuse(&format!(
                "/{} is not an operation ask runs",
                spec.name
            )));
        }
        let matches = registry::parse_console_args(spec, args).map_err(|e| {
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .to_string();
            refuse(first.trim_start_matches("error: "))
        })?;
        return Request::from_matches(spec, &matches);
    }
    if crate::commands::resource::is_resource_line(line) {
        let syntax = lang::parse_syntax(line).map_err(CommandError::from)?;
        return Ok(Request::Resource {
            verb: syntax.verb.as_str().to_string(),
            request: ResourceRequest::from_syntax(&syntax),
        });
    }
    Err(refuse(
        "it is neither a slash command nor a resource command",
    ))
}

/// Writes a request as the console line that means it, checked by parsing the line back: a
/// request the line would not carry whole is refused rather than shown as something else.
pub fn line_of_request(request: &Request) -> Result<String, CommandError> {
    let name = request.name();
    let cannot = |why: String| {
        CommandError::user(format!(
            "the proposed `{name}` cannot be written as one command line: {why}"
        ))
        .hint("ask again in other words, or type the command yourself")
    };
    let line = match request {
        Request::Resource { verb, request } => resource_line(verb, request),
        _ => slash_line(request).map_err(cannot)?,
    };
    let back = request_of_line(&line)?;
    // A resource request comes back spelled the language's way (`ct` as `container`): the
    // line is what runs, so only registry commands must come back field for field.
    if !matches!(request, Request::Resource { .. }) && back != *request {
        return Err(cannot(format!("`{line}` would mean something else")));
    }
    Ok(line)
}

/// `verb kind name args --flags`, each word quoted where the shell would need it.
fn resource_line(verb: &str, request: &ResourceRequest) -> String {
    let mut words: Vec<String> = vec![verb.to_string()];
    words.extend(request.kind.iter().cloned());
    words.extend(request.name.iter().cloned());
    words.extend(request.args.iter().cloned());
    // `--name` first, as people write `create vm --name web-01 ...`; the rest in name order.
    let mut flags: Vec<(&String, &FlagValue)> = request.flags.iter().collect();
    flags.sort_by_key(|(name, _)| name.as_str() != "name");
    for (flag, value) in flags {
        match value {
            FlagValue::Switch(true) => words.push(format!("--{flag}")),
            FlagValue::Switch(false) => {}
            FlagValue::Value(v) => {
                words.push(format!("--{flag}"));
                words.push(v.clone());
            }
            FlagValue::Repeated(all) => {
                for v in all {
                    words.push(format!("--{flag}"));
                    words.push(v.clone());
                }
            }
        }
    }
    join_quoted(&words)
}

/// `/name POSITIONAL... --flag value`, from the request's JSON input and the registry's spec.
fn slash_line(request: &Request) -> Result<String, String> {
    let name = request.name();
    let spec = registry::lookup(&name).ok_or_else(|| format!("no command /{name}"))?;
    let value = serde_json::to_value(request).map_err(|e| e.to_string())?;
    let input = value
        .get("input")
        .and_then(|v| v.as_object())
        .cloned()
        .unwrap_or_default();
    let mut positionals: Vec<Option<String>> = vec![None; spec.positionals.len()];
    let mut flags: Vec<String> = Vec::new();
    for (key, value) in input {
        let Some(text) = flag_text(&value) else {
            continue;
        };
        let long = match (name.as_str(), key.as_str()) {
            ("apply", "targets") => "target".to_string(),
            ("ci", "plan") => "file".to_string(),
            ("history", "show") => {
                positionals[0] = Some("show".into());
                if let Some(i) = spec.positionals.iter().position(|p| p.name == "id") {
                    positionals[i] = Some(text.unwrap_or_default());
                }
                continue;
            }
            _ => key.replace('_', "-"),
        };
        if let Some(i) = spec.positionals.iter().position(|p| p.name == long) {
            positionals[i] = Some(text.unwrap_or_default());
        } else if long == "json" || spec.flags.iter().any(|f| f.long == long) {
            flags.push(format!("--{long}"));
            flags.extend(text);
        } else {
            return Err(format!("/{name} has no flag or argument for `{key}`"));
        }
    }
    let mut words = vec![format!("/{name}")];
    let last = positionals.iter().rposition(Option::is_some);
    for p in positionals.into_iter().take(last.map_or(0, |l| l + 1)) {
        words.push(p.ok_or("a later argument is given without an earlier one")?);
    }
    words.extend(flags);
    Ok(join_quoted(&words))
}

/// A JSON input value as a flag: `None` when it says nothing (null, false, empty), `Some(None)`
/// for a switch, `Some(Some(text))` for a value (a list joined with commas).
fn flag_text(value: &serde_json::Value) -> Option<Option<String>> {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(false) => None,
        Value::Bool(true) => Some(None),
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(Some(s.clone())),
        Value::Number(n) => Some(Some(n.to_string())),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(Some(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
        )),
        Value::Object(_) => Some(Some(value.to_string())),
    }
}

fn join_quoted(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            // A word the shell splitter would keep as is stays bare; anything else is quoted.
            shlex::try_quote(w).map_or_else(|_| w.clone(), |q| q.into_owned())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_and_classify_by_the_registry() {
        let p = proposed("create vm --name app-01 --memory 2G").unwrap();
        assert_eq!(p.access, Access::Files);
        assert_eq!(
            proposed("list vms --status stopped").unwrap().access,
            Access::Read
        );
        assert_eq!(proposed("stop vm lab-01").unwrap().access, Access::Cluster);
        assert_eq!(proposed("/plan").unwrap().access, Access::Read);
        for bad in [
            "!rm -rf /",
            "/config set endpoint https://evil",
            "/init --endpoint x",
            "rm -rf /",
            "list vms\n/init",
            "show vm \u{1b}[2Jweb-01",
            "/ask hello",
            "/nope",
            "make me a sandwich",
            "",
        ] {
            assert!(proposed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requests_round_trip_through_their_lines() {
        for line in [
            "/plan --offline",
            "/history web-01 --since 3d",
            "/apply --target web-01,web-02",
            "/status --live",
            "/doctor",
            "create vm --name 'odd name' --memory 2G",
            "snapshot vm web-01 --name before_upgrade",
        ] {
            let request = request_of_line(line).unwrap();
            let again = line_of_request(&request).unwrap();
            assert_eq!(
                request_of_line(&again).unwrap(),
                request,
                "{line} -> {again}"
            );
        }
    }
}
