//! `/test`: run the workspace's infrastructure tests against the live cluster (see
//! [`crate::infratest`]): one discovery, every check in parallel, one line per guest, the
//! summary line `N passed, N failed[, N skipped]`, and optionally JUnit XML (`--junit FILE`).
//! Any failed check makes the command fail, so the one-shot `proxmox-mpc test` exits non-zero.

use std::path::PathBuf;

use crate::commands::{Ctx, Report, connect};
use crate::error::CommandError;
use crate::iac::sync::write_atomic;
use crate::infratest::{RunOptions, TestRun, report, run_suite};
use crate::pve::{Auth, Client};
use crate::ui::{Item, Table};

/// What `/test` was asked for.
#[derive(Debug, Clone, Default)]
pub struct TestArgs {
    pub filter: Option<String>,
    pub tag: Option<String>,
    /// Where to write JUnit XML (relative to the current folder).
    pub junit: Option<PathBuf>,
}

/// Turns a run into report items: one text line per guest, the summary line, and the machine
/// report as data (shown with `--json` / `-o yaml`).
pub fn render(run: &TestRun) -> Report {
    let mut items: Report = report::lines(run).into_iter().map(Item::Text).collect();
    items.push(Item::Text(report::summary(run)));
    for w in &run.warnings {
        items.push(Item::Warning(w.clone()));
    }
    items.push(Item::Data {
        value: report::json(run),
        table: Table::new(&[]),
    });
    items
}

/// The token secret `client` sends: the no-secrets check looks for it in the workspace files.
fn token_secret(client: &Client) -> Vec<String> {
    match &client.config().auth {
        Auth::Token { secret, .. } => vec![secret.expose().to_string()],
        Auth::Password { .. } => Vec::new(),
    }
}

/// Runs `/test` in the current workspace.
pub async fn run(ctx: &mut Ctx, args: &TestArgs) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    let endpoint = ctx.config()?.active_env().endpoint.clone();
    let client = ctx.client()?;
    let options = RunOptions {
        filter: args.filter.clone(),
        tag: args.tag.clone(),
        known_secrets: token_secret(&client),
        ..RunOptions::default()
    };
    let spinner = ctx.ui.spinner(&format!("Testing against {endpoint}"));
    let result = run_suite(&client, &root, &options).await;
    drop(spinner);
    let run = result.map_err(|e| connect::pve_error(e, &endpoint))?;
    let mut items = render(&run);
    if let Some(path) = &args.junit {
        let path = if path.is_absolute() {
            path.clone()
        } else {
            ctx.cwd.join(path)
        };
        write_atomic(&path, report::junit(&run).as_bytes(), &mut ctx.written)?;
        items.push(Item::Status(format!(
            "Wrote JUnit XML to {}.",
            path.display()
        )));
    }
    if run.results.is_empty() {
        return Err(CommandError::user("no checks matched")
            .with_report(items)
            .hint("run /sync to generate tests/*.yml, or loosen --filter / --tag"));
    }
    if run.ok() {
        Ok(items)
    } else {
        let (_, failed, _) = run.counts();
        Err(CommandError::user(format!(
            "{failed} of {} checks failed",
            run.results.len()
        ))
        .with_report(items)
        .hint("each FAILED line shows expected vs actual and the spec's file:line; change the cluster or the code (/sync --adopt takes the live values), then /test again"))
    }
}
