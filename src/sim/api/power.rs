//! Power actions: start, stop, shutdown, reboot, reset, suspend (pause or to disk) and resume,
//! each a worker task.

use serde_json::json;

use crate::sim::cluster::{Guest, GuestKind};
use crate::sim::server::{lock, now};

use super::guests::{guest, locked_message};
use super::tasks::start_task;
use super::{ApiError, Ctx, Reply, ok};

fn power_task(
    ctx: &Ctx,
    action: &'static str,
    work: impl FnOnce(&mut Guest) -> Result<(), String> + Send + 'static,
) -> Result<Reply, ApiError> {
    let mut cl = lock(&ctx.shared.cluster);
    let g = guest(&cl, ctx)?;
    let vmid = g.vmid;
    let kind = g.kind;
    let skiplock = ctx.flag("skiplock");
    if skiplock && !ctx.is_root() {
        return Err(ApiError::new(403, "Only root may use this option."));
    }
    // PVE checks these before forking the worker
    if kind == GuestKind::Lxc && matches!(action, "stop" | "shutdown" | "reboot") && !g.running {
        return Err(ApiError::internal(format!("CT {vmid} not running")));
    }
    if kind == GuestKind::Lxc && action == "start" && g.running {
        return Err(ApiError::internal(format!("CT {vmid} already running")));
    }
    if kind == GuestKind::Qemu && action == "reboot" && !g.running {
        return Err(ApiError::internal(format!("VM {vmid} not running")));
    }
    let node = ctx.node().to_string();
    let upid = start_task(
        ctx,
        &mut cl,
        &node,
        &format!("{}{action}", kind.task_prefix()),
        &vmid.to_string(),
        Box::new(move |cl, _log| {
            let g = cl
                .guests
                .get_mut(&vmid)
                .ok_or_else(|| format!("{} {vmid} does not exist", kind.word()))?;
            // a guest hibernated by suspend-to-disk is locked 'suspended'; start/resume wake it
            let waking = matches!(action, "start" | "resume") && g.lock() == Some("suspended");
            if !skiplock
                && !waking
                && let Some(msg) = locked_message(g)
            {
                return Err(msg);
            }
            work(g)
        }),
        None,
    );
    ok(json!(upid))
}

pub(super) fn guest_reset(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "reset", |g| {
        if !g.running {
            return Err(format!("VM {} not running", g.vmid));
        }
        g.started_at = Some(now());
        g.paused = false;
        Ok(())
    })
}

pub(super) fn guest_suspend(ctx: &Ctx) -> Result<Reply, ApiError> {
    let todisk = ctx.flag("todisk");
    power_task(ctx, "suspend", move |g| {
        if !g.running {
            return Err(format!("VM {} not running", g.vmid));
        }
        if todisk {
            // hibernate: the state goes to a volume and the VM stops, locked 'suspended'
            g.config.insert(
                "vmstate".into(),
                format!("local-lvm:vm-{}-state-suspend-{}", g.vmid, now()),
            );
            g.config.insert("lock".into(), "suspended".into());
            do_stop(g)
        } else {
            g.paused = true;
            Ok(())
        }
    })
}

pub(super) fn guest_resume(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "resume", |g| {
        if g.lock() == Some("suspended") {
            g.config.remove("lock");
            g.config.remove("vmstate");
            g.running = true;
            g.started_at = Some(now());
            return Ok(());
        }
        if !g.running {
            return Err(format!("VM {} not running", g.vmid));
        }
        g.paused = false;
        Ok(())
    })
}

pub(super) fn do_start(g: &mut Guest) -> Result<(), String> {
    if g.lock() == Some("suspended") {
        g.config.remove("lock");
        g.config.remove("vmstate");
    }
    if g.is_template() {
        return Err(format!(
            "{} {} is a template - start failed",
            g.kind.word(),
            g.vmid
        ));
    }
    if g.running {
        return Err(format!("{} {} already running", g.kind.word(), g.vmid));
    }
    // pending changes are applied on start
    let pending = std::mem::take(&mut g.pending);
    g.config.extend(pending);
    for k in std::mem::take(&mut g.pending_delete) {
        g.config.remove(&k);
    }
    g.running = true;
    g.started_at = Some(now());
    g.agent_running = g.kind == GuestKind::Qemu
        && g.config
            .get("agent")
            .is_some_and(|a| a.starts_with('1') || a.contains("enabled=1"));
    Ok(())
}

pub(super) fn do_stop(g: &mut Guest) -> Result<(), String> {
    g.running = false;
    g.paused = false;
    g.started_at = None;
    g.agent_running = false;
    Ok(())
}

fn do_shutdown(g: &mut Guest) -> Result<(), String> {
    if !g.running {
        return Err(format!("{} {} not running", g.kind.word(), g.vmid));
    }
    do_stop(g)
}

fn do_reboot(g: &mut Guest) -> Result<(), String> {
    if !g.running {
        return Err(format!("{} {} not running", g.kind.word(), g.vmid));
    }
    do_stop(g)?;
    do_start(g)
}

pub(super) fn guest_start(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "start", do_start)
}

pub(super) fn guest_stop(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "stop", do_stop)
}

pub(super) fn guest_shutdown(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "shutdown", do_shutdown)
}

pub(super) fn guest_reboot(ctx: &Ctx) -> Result<Reply, ApiError> {
    power_task(ctx, "reboot", do_reboot)
}
