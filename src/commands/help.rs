//! `/help` and `/help <command>`: built from the registry.

use crate::commands::Report;
use crate::commands::registry;
use crate::error::CommandError;
use crate::ui::Item;

/// Lists the commands, or explains one.
pub fn run(command: Option<&str>) -> Result<Report, CommandError> {
    match command {
        None => Ok(vec![Item::Text(registry::help_list())]),
        Some(name) => match registry::lookup(name) {
            Some(spec) => Ok(vec![Item::Text(registry::help_for(spec))]),
            None if crate::lang::VERBS.iter().any(|(v, _)| *v == name) => {
                Ok(vec![Item::Text(crate::lang::help_text(Some(name)))])
            }
            None => {
                let mut err = CommandError::user(format!("there is no command `{name}`"));
                if let Some(best) = registry::suggest(name).first() {
                    err = err.hint(format!("did you mean /help {best}?"));
                } else {
                    err = err.hint("type /help to list the commands");
                }
                Err(err)
            }
        },
    }
}
