//! The operations layer on the simulator without a console: a workspace made by `/init` in a
//! temp folder, each request built from JSON and run through `commands::execute` with a fresh
//! context (as a front end sends one), and `git` run in the workspace to read what the console
//! committed.

use std::path::Path;
use std::process::Command;

use proxmox_mpc::commands::{Ctx, Report, Request, execute};
use proxmox_mpc::error::CommandError;
use proxmox_mpc::sim::{Sim, SimConfig};
use proxmox_mpc::ui::{Item, OutputFormat, Ui, Verbosity};
use serde_json::json;

/// The variable the token secret is passed in (through the context, not the process).
pub const SECRET_VAR: &str = "PMPC_OPS_SECRET";

/// A workspace connected to its own homelab simulator.
pub struct OpsWorkspace {
    pub sim: Sim,
    pub dir: tempfile::TempDir,
    /// The workspace folder: `dir` itself, or a folder inside it.
    root: std::path::PathBuf,
}

impl OpsWorkspace {
    /// Starts the homelab simulator and runs `/init` in a new temp folder.
    pub async fn init() -> Self {
        Self::init_in(tempfile::tempdir().expect("temp dir"), "").await
    }

    /// Starts the homelab simulator and runs `/init` in `dir`/`sub` (made if missing).
    pub async fn init_in(dir: tempfile::TempDir, sub: &str) -> Self {
        let sim = Sim::start(SimConfig::homelab())
            .await
            .expect("simulator starts");
        let root = dir.path().join(sub);
        std::fs::create_dir_all(&root).expect("workspace folder");
        let ws = Self { sim, dir, root };
        let fingerprint = ws.sim.fingerprint();
        ws.run(
            "init",
            json!({
                "endpoint": ws.sim.url(),
                "token_id": ws.sim.token_id(),
                "secret_env": SECRET_VAR,
                "fingerprint": fingerprint,
            }),
        )
        .await;
        ws
    }

    /// Sets `key` of the VM `vmid` through the PVE API, as someone at the web UI would.
    pub async fn set_on_server(&self, vmid: u32, key: &str, value: &str) {
        let api = super::sim::client(&self.sim);
        let node = self.sim.control().guest_node(vmid).expect("guest exists");
        let upid = api
            .update_config(
                &node,
                proxmox_mpc::model::GuestKind::Qemu,
                vmid,
                proxmox_mpc::pve::params([(key, value)]),
                &[],
                None,
            )
            .await
            .expect("config update");
        if let Some(upid) = upid {
            api.wait(&upid).await.expect("task finishes");
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh context in the workspace (origin `cli`: nobody at a terminal), JSON reports.
    pub fn ctx(&self) -> Ctx {
        let mut ctx = Ctx::new(
            Ui::new(OutputFormat::Json, Verbosity::Quiet),
            self.root().to_path_buf(),
            false,
        );
        ctx.set_env(SECRET_VAR, &self.sim.token_secret());
        ctx
    }

    /// Runs operation `name` with `input` in a fresh context; the failure as it is.
    pub async fn try_run(
        &self,
        name: &str,
        input: serde_json::Value,
    ) -> Result<Report, CommandError> {
        self.try_run_in(&mut self.ctx(), name, input).await
    }

    /// Runs operation `name` with `input` in `ctx`; the failure as it is.
    pub async fn try_run_in(
        &self,
        ctx: &mut Ctx,
        name: &str,
        input: serde_json::Value,
    ) -> Result<Report, CommandError> {
        let request = Request::from_json(name, input).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        execute(ctx, request).await
    }

    /// Runs operation `name` with `input`; panics with the message when it fails.
    pub async fn run(&self, name: &str, input: serde_json::Value) -> Report {
        self.try_run(name, input)
            .await
            .unwrap_or_else(|e| panic!("{name} failed: {} ({:?})", e.message, e.hints))
    }

    /// `git ARGS` in the workspace; panics when git fails.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(self.root())
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The subjects of the workspace's commits, newest first.
    pub fn subjects(&self) -> Vec<String> {
        self.git(&["log", "--format=%s"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `HEAD`'s commit id.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// The vmid of the simulator's guest called `name`, if it has one.
    pub fn sim_guest(&self, name: &str) -> Option<u32> {
        let control = self.sim.control();
        control.guest_ids().into_iter().find(|id| {
            control
                .guest_config(*id)
                .is_some_and(|c| c.get("name").map(String::as_str) == Some(name))
        })
    }
}

/// The value of the report's first data item.
pub fn data(report: &Report) -> serde_json::Value {
    report
        .iter()
        .find_map(|i| match i {
            Item::Data { value, .. } => Some(value.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the report has no data: {report:?}"))
}

/// Every status, warning and hint line of a report, joined.
pub fn lines(report: &Report) -> String {
    report
        .iter()
        .filter_map(|i| match i {
            Item::Status(t) | Item::Warning(t) | Item::Hint(t) | Item::Text(t) => Some(t.clone()),
            Item::Data { .. } => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}
