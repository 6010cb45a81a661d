//! `/test --restore-drill GUEST`: proves a guest's newest backup restores. It restores that
//! backup to a scratch VMID (new MAC addresses, a name of its own), starts it, checks that it
//! runs, stops and removes it, and reports how long each step took. The scratch guest is
//! removed whatever happened after it was created; it never gets a file in the workspace.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{Restore, all_backups, follow, kind_word, live_guests, pve, run_restore};
use crate::commands::{Ctx, Report, workspace_state};
use crate::error::CommandError;
use crate::pve::Client;
use crate::ui::{Item, Table};

/// Runs the drill for `guest` (a name or vmid).
pub async fn run(ctx: &mut Ctx, guest: &str) -> Result<Report, CommandError> {
    ctx.workspace()?;
    let client = ctx.client()?;
    let endpoint = ctx.config()?.active_env().endpoint.clone();
    let guests = live_guests(&client, &endpoint).await?;
    let hits: Vec<_> = guests
        .iter()
        .filter(|g| g.name == guest || guest.parse::<u32>().is_ok_and(|v| v == g.vmid))
        .collect();
    let source = match hits.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(
                CommandError::user(format!("there is no guest {guest} on the cluster"))
                    .hint("name a guest (or its vmid) that `list vms` or `list containers` shows"),
            );
        }
        _ => {
            return Err(
                CommandError::user(format!("several guests are named {guest}"))
                    .hint("name the guest by its vmid"),
            );
        }
    };
    let newest = all_backups(&client, &guests, Some(source.vmid), None, &endpoint)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            CommandError::user(format!("{} has no backup to drill", source.label())).hint(format!(
                "`backup {} {}` makes one; then run the drill again",
                kind_word(source.kind),
                source.name
            ))
        })?;
    let scratch = client.next_id().await.map_err(|e| pve(e, &endpoint))?;
    let started = Instant::now();
    let restore = Restore {
        kind: source.kind,
        node: source.node.clone(),
        volid: newest.volid.clone(),
        vmid: scratch,
        name: Some(format!("restore-drill-{}", source.vmid)),
        storage: None,
        unique: true,
    };
    let restored = run_restore(ctx, &client, &restore, &endpoint).await?;
    let checked = start_and_check(ctx, &client, &restore, &endpoint).await;
    let cleanup = Instant::now();
    let removed = remove(ctx, &client, &restore, &endpoint).await;
    let cleanup = cleanup.elapsed();
    let total = started.elapsed();
    let db = workspace_state::state_db(ctx).await?;
    let env = ctx.config()?.active.clone();
    let passed = checked.is_ok() && removed.is_ok();
    db.audit(
        &env,
        "restore-drill",
        &format!("{} {} {}", kind_word(source.kind), source.vmid, source.name),
        Some(&format!(
            "{} to scratch vmid {scratch}: {}",
            newest.volid,
            if passed { "passed" } else { "failed" }
        )),
    )
    .await?;
    let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    let mut table = Table::new(&[
        "guest", "backup", "restore", "start", "cleanup", "total", "result",
    ]);
    table.row(vec![
        format!("{} ({})", source.name, source.vmid),
        newest.volid.clone(),
        secs(restored),
        checked
            .as_ref()
            .map(|d| secs(*d))
            .unwrap_or_else(|_| "-".into()),
        secs(cleanup),
        secs(total),
        if passed { "PASS".into() } else { "FAIL".into() },
    ]);
    let value = json!({
        "guest": source.name, "vmid": source.vmid, "volid": newest.volid,
        "backup_age_seconds": newest.age_seconds, "scratch_vmid": scratch,
        "restore_seconds": restored.as_secs_f64(),
        "start_seconds": checked.as_ref().ok().map(Duration::as_secs_f64),
        "cleanup_seconds": cleanup.as_secs_f64(), "total_seconds": total.as_secs_f64(),
        "passed": passed,
    });
    let mut items: Report = vec![Item::Data { value, table }];
    if let Err(e) = &removed {
        items.push(Item::Warning(format!(
            "the scratch guest {scratch} could not be removed: {}; remove it by hand",
            e.message
        )));
    }
    match checked {
        Ok(_) if passed => {
            items.push(Item::Status(format!(
                "Restore drill of {} passed: {} restored to scratch vmid {scratch}, started and removed in {}.",
                source.label(),
                newest.volid,
                secs(total)
            )));
            Ok(items)
        }
        Ok(_) => Err(CommandError::user(format!(
            "the restore drill of {} restored and started but did not clean up",
            source.label()
        ))
        .with_report(items)
        .hint(format!("remove the scratch guest {scratch} by hand"))),
        Err(e) => Err(CommandError::user(format!(
            "the restore drill of {} failed: {}",
            source.label(),
            e.message
        ))
        .with_report(items)
        .hint("the backup restored but the guest did not run; look at the task log on the node")),
    }
}

/// Starts the scratch guest and checks that it runs; returns how long that took.
async fn start_and_check(
    ctx: &Ctx,
    client: &Client,
    r: &Restore,
    endpoint: &str,
) -> Result<Duration, CommandError> {
    let t = Instant::now();
    let upid = client
        .start(&r.node, r.kind, r.vmid)
        .await
        .map_err(|e| pve(e, endpoint))?;
    follow(
        ctx,
        client,
        &upid,
        &format!("start scratch guest {}", r.vmid),
        endpoint,
    )
    .await?;
    let status = client
        .guest_status(&r.node, r.kind, r.vmid)
        .await
        .map_err(|e| pve(e, endpoint))?;
    if status.status != "running" {
        return Err(CommandError::user(format!(
            "the scratch guest {} is {} after its start",
            r.vmid, status.status
        )));
    }
    Ok(t.elapsed())
}

/// Stops (when running) and destroys the scratch guest.
async fn remove(
    ctx: &Ctx,
    client: &Client,
    r: &Restore,
    endpoint: &str,
) -> Result<(), CommandError> {
    let status = client
        .guest_status(&r.node, r.kind, r.vmid)
        .await
        .map_err(|e| pve(e, endpoint))?;
    if status.status == "running" {
        let upid = client
            .stop(&r.node, r.kind, r.vmid)
            .await
            .map_err(|e| pve(e, endpoint))?;
        follow(
            ctx,
            client,
            &upid,
            &format!("stop scratch guest {}", r.vmid),
            endpoint,
        )
        .await?;
    }
    let upid = client
        .destroy(&r.node, r.kind, r.vmid)
        .await
        .map_err(|e| pve(e, endpoint))?;
    follow(
        ctx,
        client,
        &upid,
        &format!("remove scratch guest {}", r.vmid),
        endpoint,
    )
    .await?;
    Ok(())
}
