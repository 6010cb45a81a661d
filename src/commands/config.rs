//! `/config` (the effective configuration, secret shown only as its reference) and
//! `/config set KEY VALUE` (validated before config.yml is rewritten, atomically, mode 0600).

use crate::commands::{Ctx, Report};
use crate::error::CommandError;
use crate::ui::{Item, Table};
use crate::workspace::write_atomic;

/// Shows or changes the configuration.
pub async fn run(ctx: &mut Ctx, words: &[String]) -> Result<Report, CommandError> {
    match words {
        [] => {
            let config = ctx.config()?;
            let pairs = config.effective();
            let mut table = Table::new(&["key", "value"]);
            let mut value = serde_json::Map::new();
            for (k, v) in pairs {
                table.row(vec![k.clone(), v.clone()]);
                value.insert(k, serde_json::Value::String(v));
            }
            Ok(vec![Item::Data {
                value: serde_json::Value::Object(value),
                table,
            }])
        }
        [action, key, value] if action == "set" => {
            let path = ctx.workspace()?.config_path();
            // The key is set on the environment this command runs against (`--env` or
            // PROXMOX_MPC_ENV may choose another than config.yml's `active`); that choice is
            // for this process only, so the file keeps its own `active` unless that is the key.
            let chosen = ctx.config()?.active.clone();
            let mut config = crate::workspace::config::Config::load(&path)?;
            let saved_active = std::mem::replace(&mut config.active, chosen);
            config.set(key, value).map_err(|message| {
                CommandError::user(format!("cannot set {key}: {message}"))
                    .hint("config.yml was not changed; see /help config for the keys")
            })?;
            if key != "active" {
                config.active = saved_active;
            }
            write_atomic(&path, config.render().as_bytes(), 0o600)?;
            // Read again with this process's environment choice on top.
            ctx.reload_env();
            // Committed like any change of the files (the value is never a secret: `secret`
            // takes only a reference, and config.yml holds nothing else).
            ctx.change.subject = Some(format!("config set {key} {value}"));
            ctx.change.paths.push(format!(
                "{}/{}",
                crate::workspace::DOT_DIR,
                crate::workspace::CONFIG_FILE
            ));
            Ok(vec![Item::Status(format!(
                "Set {key} in {}.",
                path.display()
            ))])
        }
        [action, ..] if action == "set" => Err(CommandError::cli("usage: /config set KEY VALUE")
            .hint("for example: /config set defaults.node pve1")),
        _ => Err(
            CommandError::cli(format!("unknown /config arguments `{}`", words.join(" "))).hint(
                "use /config to show the configuration or /config set KEY VALUE to change it",
            ),
        ),
    }
}
