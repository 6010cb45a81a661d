//! A console session (`proxmox_mpc::console::Session`) in-process, in a workspace synced from
//! the simulator, and the text of its outcomes.

use std::path::Path;

use proxmox_mpc::commands::Ctx;
use proxmox_mpc::console::{Outcome, Session};
use proxmox_mpc::sim::Sim;
use proxmox_mpc::ui::{Item, Ui};

/// A session in `dir` that knows `sim`'s full token as `token_var`.
pub fn session(dir: &Path, sim: &Sim, token_var: &str) -> Session {
    let mut ctx = Ctx::new(Ui::default(), dir.to_path_buf(), false);
    ctx.set_env(
        token_var,
        &format!("{}={}", sim.token_id(), sim.token_secret()),
    );
    Session::new(ctx)
}

/// All the text of an outcome's items.
pub fn text(out: &Outcome) -> String {
    out.items
        .iter()
        .map(|i| match i {
            Item::Status(s) | Item::Warning(s) | Item::Hint(s) | Item::Text(s) => s.clone(),
            Item::Data { value, .. } => value.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs a line that must succeed; returns its output as text.
pub async fn ok(session: &mut Session, line: &str) -> String {
    let out = session.handle(line).await;
    if let Some(e) = &out.error {
        panic!("`{line}` failed: {} (hints: {:?})", e.message, e.hints);
    }
    text(&out)
}

/// Runs `/init` (pinned, the token in `token_var`) and `/sync` in `dir`; returns a session in
/// the synced workspace.
pub async fn synced_session(sim: &Sim, dir: &Path, token_var: &str) -> Session {
    let mut console = session(dir, sim, token_var);
    ok(&mut console, &super::sim::init_line(sim, token_var)).await;
    // /init made the workspace: a new session finds it.
    let mut console = session(dir, sim, token_var);
    ok(&mut console, "/sync").await;
    console
}
