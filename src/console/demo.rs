//! `proxmox-mpc demo`: starts the built-in simulator in this process (the homelab seed, HTTPS
//! on 127.0.0.1), prepares a workspace for it — `./proxmox-mpc-demo` by default, a temporary
//! folder when the current folder is already inside a workspace — runs `/init` against it and
//! opens the console, and serves the dashboard (`serve` in this process, on 127.0.0.1) beside
//! it. The token secret reaches the console and the dashboard's operations only through this
//! process's environment overlay, never a file.

use std::path::{Path, PathBuf};

use crate::commands::Ctx;
use crate::commands::init::{self, InitArgs};
use crate::console::{self, Outcome, Session};
use crate::error::CommandError;
use crate::sim::{Sim, SimConfig};
use crate::ui::{Item, Ui};
use crate::workspace::Workspace;
use crate::workspace::config::Config;
use crate::workspace::write_atomic;

/// The variable the demo's token secret travels in (inside this process only).
pub const DEMO_SECRET_VAR: &str = "PROXMOX_MPC_DEMO_TOKEN";
/// The default demo folder, relative to the current folder.
pub const DEMO_DIR: &str = "proxmox-mpc-demo";

/// A running demo: the simulator, the session pointed at it, and the dashboard.
pub struct Demo {
    sim: Sim,
    session: Session,
    banner: Vec<Item>,
    dashboard: Option<crate::serve::Started>,
}

/// Where the demo's dashboard listens first (`serve`'s default port); a free port if taken.
const DASHBOARD_LISTEN: &str = "127.0.0.1:7780";

/// Starts the dashboard on the demo workspace with a fresh admin token valid for 12 hours, and
/// says where: the URL carries the token after `#`, which the browser never sends to a server
/// and the page removes from the address bar as it logs in.
async fn start_dashboard(
    ctx: &mut Ctx,
    target: &Path,
    secret: &str,
) -> Result<(crate::serve::Started, Vec<Item>), CommandError> {
    let name = format!("demo-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    let expires = (chrono::Utc::now() + chrono::Duration::hours(12))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (token, _) = crate::commands::token::issue(
        ctx,
        &name,
        crate::commands::access::Role::Admin,
        None,
        Some(expires),
    )
    .await?;
    let overlay = vec![(DEMO_SECRET_VAR.to_string(), secret.to_string())];
    // serve's own "listening on" line would interleave with the banner; the banner says it.
    let quiet = crate::serve::quiet_ui();
    let mut args = crate::serve::ServeArgs {
        listen: Some(DASHBOARD_LISTEN.into()),
        ..Default::default()
    };
    let started = match crate::serve::start(&quiet, target, &args, overlay.clone()).await {
        Ok(s) => s,
        Err(_) => {
            args.listen = Some("127.0.0.1:0".into());
            crate::serve::start(&quiet, target, &args, overlay).await?
        }
    };
    let items = vec![Item::Status(format!(
        "Dashboard: {}/#token={token}  (an admin token for this demo, valid 12 hours; \
             /token list shows it)",
        started.url
    ))];
    Ok((started, items))
}

/// Starts the simulator and prepares the demo workspace.
pub async fn prepare(
    ui: &Ui,
    cwd: &Path,
    dir: Option<&str>,
    yes: bool,
    interactive: bool,
) -> Result<Demo, CommandError> {
    let mut banner = Vec::new();
    let target: PathBuf = match dir {
        Some(d) => cwd.join(d),
        None => match Workspace::discover(cwd) {
            Some(outer) => {
                let tmp =
                    std::env::temp_dir().join(format!("proxmox-mpc-demo-{}", std::process::id()));
                banner.push(Item::Status(format!(
                    "{} is inside the workspace {}; the demo uses {} instead (pass a folder to choose).",
                    cwd.display(),
                    outer.root().display(),
                    tmp.display()
                )));
                tmp
            }
            None => cwd.join(DEMO_DIR),
        },
    };
    if dir.is_some()
        && !yes
        && let Some(outer) = target.parent().and_then(Workspace::discover)
    {
        return Err(CommandError::user(format!(
            "{} is inside the workspace {}",
            target.display(),
            outer.root().display()
        ))
        .hint("pick a folder outside it, or pass --yes to put the demo there anyway"));
    }

    let sim = {
        let _spinner = ui.spinner("Starting the simulated cluster");
        Sim::start(SimConfig::homelab()).await.map_err(|e| {
            CommandError::internal(format!("cannot start the simulated cluster: {e}"))
                .hint("this is a bug; please report it with the message above")
        })?
    };
    let secret = sim.token_secret();
    let mut ctx = Ctx::new(ui.clone(), target.clone(), interactive);
    ctx.set_env(DEMO_SECRET_VAR, &secret);
    ctx.remember_secret(&secret);

    let workspace = Workspace::at(&target);
    if workspace.exists() {
        // A demo workspace from an earlier run: point it at this run's simulator.
        let path = workspace.config_path();
        let mut config = Config::load(&path)?;
        if config.active_env().secret != format!("env:{DEMO_SECRET_VAR}") {
            return Err(CommandError::user(format!(
                "{} is a workspace that `demo` did not make",
                target.display()
            ))
            .hint("pass another folder: proxmox-mpc demo FOLDER"));
        }
        config
            .set("endpoint", &sim.url())
            .map_err(CommandError::internal)?;
        if let Some(fp) = sim.fingerprint() {
            config
                .set("tls.fingerprint", &fp)
                .map_err(CommandError::internal)?;
        }
        write_atomic(&path, config.render().as_bytes(), 0o600)?;
        ctx = Ctx::new(ui.clone(), target.clone(), interactive);
        ctx.set_env(DEMO_SECRET_VAR, &secret);
        ctx.remember_secret(&secret);
        banner.push(Item::Status(format!(
            "Reusing the demo workspace {}.",
            target.display()
        )));
    } else {
        std::fs::create_dir_all(&target).map_err(|e| {
            CommandError::user(format!("cannot create {}: {e}", target.display()))
                .hint("pass a folder you can write to: proxmox-mpc demo FOLDER")
        })?;
        let args = InitArgs {
            endpoint: Some(sim.url()),
            token_id: Some(sim.token_id()),
            secret_env: Some(DEMO_SECRET_VAR.to_string()),
            fingerprint: sim.fingerprint(),
            ..InitArgs::default()
        };
        let was_interactive = ctx.interactive;
        ctx.interactive = false;
        // The demo's own banner says what matters; /init's report is kept only for warnings.
        let report = init::run(&mut ctx, &args).await?;
        banner.extend(report.into_iter().filter(|i| matches!(i, Item::Warning(_))));
        ctx.interactive = was_interactive;
    }
    banner.push(Item::Status(format!(
        "Demo: this cluster is simulated ({} on this machine), nothing real is touched; workspace {}.",
        sim.url(),
        target.display()
    )));
    let dashboard = match start_dashboard(&mut ctx, &target, &secret).await {
        Ok((started, items)) => {
            banner.extend(items);
            Some(started)
        }
        Err(e) => {
            banner.push(Item::Warning(format!(
                "the dashboard did not start: {}",
                e.message
            )));
            None
        }
    };
    banner.push(Item::Status(
        "New here? Type /tour for a guided walk (sync, create, plan, apply, test, a drift and its repair), or /help for the commands.".into(),
    ));
    let mut session = Session::new(ctx);
    // The tour's drift step changes a guest on this simulator, out of band.
    session.set_sim(sim.control());
    Ok(Demo {
        sim,
        session,
        banner,
        dashboard,
    })
}

impl Demo {
    /// Opens the console on the demo workspace; stops the simulator when it ends.
    pub fn run_console(
        mut self,
        runtime: &tokio::runtime::Runtime,
        ui: &Ui,
        interactive: bool,
    ) -> i32 {
        let mut outcome = Outcome {
            items: std::mem::take(&mut self.banner),
            ..Outcome::default()
        };
        console::render(ui, &mut outcome);
        let code = if interactive {
            console::run_interactive(runtime, ui, &mut self.session)
        } else {
            console::run_piped(runtime, ui, &mut self.session)
        };
        if let Some(dashboard) = self.dashboard.take() {
            dashboard.stop();
        }
        runtime.block_on(self.sim.shutdown());
        code
    }
}
