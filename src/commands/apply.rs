//! `/apply [--yes] [--target NAME,...]`: carries out a plan under the workspace apply lock.
//!
//! Which plan: an interrupted apply is resumed first (its journal says what is done); else the
//! saved pending plan from `/plan`, refused when stale (a `.tf` file changed, or a guest it
//! touches changed or vanished); else a fresh plan. Destructive steps are named and confirmed
//! unless `--yes`. Afterwards: an audit-log entry, a new snapshot, and the summary of what was
//! done, what failed and why, and what was not attempted.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use crate::commands::workspace_state::{
    files_hash, last_snapshot, make_plan, observe, plan_hash, save_plan, state_db, workspace_client,
};
use crate::commands::{Ctx, Report, connect};
use crate::error::CommandError;
use crate::plan::Plan;
use crate::plan::apply::{
    ApplyEvent, ApplyOptions, ApplySummary, apply, missing_privileges, stale_reasons,
};
use crate::plan::render::render_text;
use crate::pve::Client;
use crate::state::written::Written;
use crate::state::{PlanStatus, StateDb};
use crate::ui::{Item, Table};

/// What `/apply` was asked.
#[derive(Debug, Clone, Default)]
pub struct ApplyArgs {
    pub yes: bool,
    /// Guest names (or vmids) to limit the apply to; dependencies come along.
    pub targets: Vec<String>,
    pub parallelism: Option<usize>,
    /// Error-level policy rules to let through (audit-logged): `commands::policy::gate`.
    pub override_policy: Vec<String>,
    /// The reviewed plan (`plan --out`): applied exactly, or refused as stale.
    pub plan_file: Option<PathBuf>,
    /// The reviewed saved plan (`/plan`'s `plan_id` and `plan_hash`, as the REST API and the
    /// MCP server pass them): applied exactly, or refused as unknown, replayed, altered or stale.
    pub plan_id: Option<i64>,
    pub plan_hash: Option<String>,
}

fn load(data: &str, id: i64) -> Result<Plan, CommandError> {
    serde_json::from_str(data).map_err(|e| {
        CommandError::internal(format!("plan {id} in state.db cannot be read: {e}"))
            .hint("run /plan to make a new plan")
    })
}

/// What every stage of one `/apply` works with.
struct Job {
    root: PathBuf,
    environment: String,
    token_id: String,
    db: StateDb,
    client: Client,
    endpoint: String,
    /// Long file lists whole (`-v`, `-o json`) instead of summarised.
    full_lists: bool,
}

/// Runs `/apply`.
pub async fn run(ctx: &mut Ctx, args: &ApplyArgs) -> Result<Report, CommandError> {
    let root = ctx.workspace()?.root().to_path_buf();
    // Held until the apply returns (and, in shared state, the team's lock until `execute`
    // releases it): only one apply runs at a time in a workspace.
    let lock = crate::commands::role::lock(ctx, "apply").await?;
    let mut items = Vec::new();
    if let Some(stale) = &lock.cleared_stale {
        items.push(Item::Warning(format!(
            "cleared a stale apply lock left by process {} on {} since {}",
            stale.pid, stale.host, stale.since
        )));
    }
    let config = ctx.config()?.clone();
    let db = state_db(ctx).await?;
    let (client, endpoint) = workspace_client(ctx)?;
    let job = Job {
        root,
        environment: config.active.clone(),
        token_id: config.active_env().token_id.clone(),
        db,
        client,
        endpoint,
        full_lists: crate::ui::full_lists(&ctx.ui),
    };

    let (plan_id, plan, resumed) = select_plan(ctx, &job, args, &mut items).await?;
    if plan.is_empty() {
        return finish_empty(&job, plan_id, items, &mut ctx.written).await;
    }
    if !resumed {
        let gate = crate::commands::policy::gate(
            &job.root,
            &plan,
            plan_id,
            &args.override_policy,
            &job.db,
            &job.environment,
        );
        items.extend(gate.await?);
    }
    check_applicable(&job, &plan, &mut items).await?;
    // A resumed apply was confirmed when it started.
    let go = resumed || args.yes || ctx.assume_yes || ask_to_apply(ctx, &plan, &mut items)?;
    if !go {
        items.push(Item::Status("Apply cancelled; nothing was changed.".into()));
        return Ok(items);
    }
    let opts = options(ctx, args)?;
    let summary = apply_with_progress(ctx, &job, plan_id, &plan, opts).await?;
    finish(&job, plan_id, &plan, &summary, items, &mut ctx.written).await
}

/// Picks the plan: an interrupted apply's (resumed as is), else the pending one from `/plan`
/// unless stale (then discarded), else a fresh one; a new plan is narrowed to `--target`.
/// Returns its id, the plan, and whether it is resumed.
async fn select_plan(
    ctx: &mut Ctx,
    job: &Job,
    args: &ApplyArgs,
    items: &mut Report,
) -> Result<(i64, Plan, bool), CommandError> {
    let db = &job.db;
    if args.plan_id.is_some() || args.plan_hash.is_some() {
        if !args.targets.is_empty() || args.plan_file.is_some() {
            return Err(CommandError::cli(
                "--plan-id applies that reviewed plan whole; --target or --plan would apply something else",
            )
            .hint("leave out --target and --plan"));
        }
        let (Some(id), Some(hash)) = (args.plan_id, args.plan_hash.as_deref()) else {
            return Err(CommandError::cli(
                "a reviewed plan is applied by its plan_id together with its plan_hash",
            )
            .hint("pass both values /plan answered (with -o json: plan_id, plan_hash)"));
        };
        let plan = reviewed_stored_plan(job, id, hash).await?;
        return Ok((id, plan, false));
    }
    if let Some(path) = &args.plan_file {
        if !args.targets.is_empty() {
            return Err(CommandError::cli(
                "--plan applies the reviewed plan whole; --target would apply part of it",
            )
            .hint("leave out --target, or plan the part you want and review that"));
        }
        let (id, plan) = reviewed_plan(ctx, job, path).await?;
        return Ok((id, plan, false));
    }
    let (plan_id, plan, resumed) =
        if let Some(stored) = db.latest_plan_with(&[PlanStatus::Applying]).await? {
            items.push(Item::Status(format!(
                "Resuming the interrupted apply of plan {} (made {}).",
                stored.id, stored.created_at
            )));
            (stored.id, load(&stored.data, stored.id)?, true)
        } else if let Some(stored) = db.latest_plan_with(&[PlanStatus::Pending]).await? {
            let plan = load(&stored.data, stored.id)?;
            let reasons = why_stale(job, plan.files_hash.as_deref(), &plan, "made").await?;
            if !reasons.is_empty() {
                db.set_plan_status(stored.id, PlanStatus::Discarded).await?;
                return Err(CommandError::user(format!(
                    "plan {} is stale: {}",
                    stored.id,
                    reasons.join("; ")
                ))
                .hint("run /plan again to see the changes as they are now"));
            }
            (stored.id, plan, false)
        } else {
            let (plan, _, _) = make_plan(ctx, false).await?;
            let id = save_plan(db, &job.environment, &plan).await?;
            (id, plan, false)
        };
    let plan = if resumed {
        plan
    } else {
        plan.targeted(&args.targets).map_err(|e| {
            CommandError::user(e).hint("name a guest (or vmid) that /plan lists as changing")
        })?
    };
    Ok((plan_id, plan, resumed))
}

/// The plan of a plan file, checked as the pending plan is (the `.tf` files and every guest
/// it touches as they were when it was made) and saved in this state.db, whose id it returns.
/// A plan file is applied whole: `--target` would apply something nobody reviewed.
async fn reviewed_plan(
    ctx: &mut Ctx,
    job: &Job,
    path: &std::path::Path,
) -> Result<(i64, Plan), CommandError> {
    let path = ctx.cwd.join(path);
    let file = crate::commands::plan::PlanFile::read(&path)?;
    let shown = path.display();
    if let Some(stored) = job.db.latest_plan_with(&[PlanStatus::Applying]).await? {
        return Err(CommandError::user(format!(
            "plan {} was interrupted while applying; it must finish before {shown} is applied",
            stored.id
        ))
        .hint("run `proxmox-mpc apply --yes` to finish it, then plan again"));
    }
    if file.environment != job.environment {
        return Err(CommandError::user(format!(
            "{shown} was planned for the environment `{}`, not `{}`",
            file.environment, job.environment
        ))
        .hint("set PROXMOX_MPC_ENV to the plan's environment, or plan again"));
    }
    let reasons = why_stale(job, file.files_hash.as_deref(), &file.plan, "reviewed").await?;
    if !reasons.is_empty() {
        return Err(CommandError::user(format!(
            "the reviewed plan {shown} (plan {} of {}) is stale: {}; nothing was changed",
            file.plan_id,
            file.environment,
            reasons.join("; ")
        ))
        .hint("plan again (re-run the review job) and review the changes as they are now"));
    }
    // Its snapshot serial belongs to the state.db it was made in.
    let mut plan = file.plan;
    plan.based_on_serial = None;
    let id = save_plan(&job.db, &job.environment, &plan).await?;
    Ok((id, plan))
}

/// The saved plan `id`, if `hash` is its [`plan_hash`] and it can still be applied as it was
/// reviewed: pending (not applied already, not replaced by a newer plan), made in this
/// environment, and not stale (the `.tf` files and every guest it touches unchanged).
async fn reviewed_stored_plan(job: &Job, id: i64, hash: &str) -> Result<Plan, CommandError> {
    let refuse = |what: String| {
        CommandError::user(format!(
            "plan {id} cannot be applied: {what}; nothing was changed"
        ))
    };
    let Some(stored) = job.db.plan(id).await? else {
        return Err(refuse("there is no such plan in this workspace".into())
            .hint("run /plan and pass the plan_id and plan_hash it answers"));
    };
    if stored.environment != job.environment {
        return Err(refuse(format!(
            "it was made for the environment `{}`, not `{}`",
            stored.environment, job.environment
        ))
        .hint("plan again in this environment"));
    }
    if plan_hash(&stored.data) != hash.trim() {
        return Err(refuse("plan_hash is not this plan's hash".into())
            .hint("pass the plan_hash /plan answered together with this plan_id"));
    }
    match stored.status {
        PlanStatus::Pending => {}
        PlanStatus::Applying => {
            return Err(refuse("its apply started and did not finish".into())
                .hint("run /apply (without a plan id) to resume it"));
        }
        PlanStatus::Applied | PlanStatus::Failed => {
            return Err(refuse(format!(
                "it was applied already (status {}); a plan is applied once",
                stored.status.as_str()
            ))
            .hint("run /plan to see what is left to change"));
        }
        PlanStatus::Discarded => {
            return Err(refuse(
                "it was replaced by a newer plan or found stale (discarded)".into(),
            )
            .hint("run /plan again and review the changes as they are now"));
        }
    }
    if let Some(other) = job.db.latest_plan_with(&[PlanStatus::Applying]).await? {
        return Err(refuse(format!(
            "plan {} was interrupted while applying and must finish first",
            other.id
        ))
        .hint("run /apply (without a plan id) to finish it, then plan again"));
    }
    let plan = load(&stored.data, id)?;
    let reasons = why_stale(job, plan.files_hash.as_deref(), &plan, "made").await?;
    if !reasons.is_empty() {
        job.db.set_plan_status(id, PlanStatus::Discarded).await?;
        return Err(refuse(format!("it is stale: {}", reasons.join("; ")))
            .hint("run /plan again and review the changes as they are now"));
    }
    Ok(plan)
}

/// Why a plan made from the `.tf` files hashed `made_from` can no longer be applied as it was
/// `made` (or `reviewed`): the files changed, or a guest it touches changed or vanished.
/// Empty when it still holds.
async fn why_stale(
    job: &Job,
    made_from: Option<&str>,
    plan: &Plan,
    made: &str,
) -> Result<Vec<String>, CommandError> {
    let mut reasons = Vec::new();
    if made_from != Some(files_hash(&job.root).as_str()) {
        reasons.push(format!("the .tf files changed since it was {made}"));
    }
    reasons.extend(
        stale_reasons(&job.client, plan)
            .await
            .map_err(|e| connect::pve_error(e, &job.endpoint))?,
    );
    Ok(reasons)
}

/// Closes a plan with nothing to do, first adding any import block an interrupted apply left
/// unwritten.
async fn finish_empty(
    job: &Job,
    plan_id: i64,
    mut items: Report,
    written: &mut Written,
) -> Result<Report, CommandError> {
    job.db.set_plan_status(plan_id, PlanStatus::Applied).await?;
    // An apply killed after its last step but before its write-back left created guests'
    // files without their import block; the stored snapshot says where they are.
    if let Ok((observed, _)) = last_snapshot(&job.db).await {
        match repair_imports(&job.root, &observed, written) {
            Ok(files) if !files.is_empty() => items.push(Item::Status(format!(
                "Added the import blocks an interrupted apply did not write: {}.",
                files.join(", ")
            ))),
            Ok(_) => {}
            Err(e) => items.push(Item::Warning(format!(
                "could not add missing import blocks: {e}; run /sync to refresh the files"
            ))),
        }
    }
    items.push(Item::Status(
        "No changes. The cluster matches the files.".into(),
    ));
    let nothing = ApplySummary {
        plan_id,
        steps: Vec::new(),
        interrupted: false,
    };
    items.push(summary_data(&nothing));
    Ok(items)
}

/// Refuses a plan that has refusals, or that the token lacks the privileges for (that error
/// carries `items`).
async fn check_applicable(job: &Job, plan: &Plan, items: &mut Report) -> Result<(), CommandError> {
    let refusals = plan.refusals();
    if !refusals.is_empty() {
        return Err(CommandError::user(format!(
            "the plan cannot be applied: {}",
            refusals.join("; ")
        ))
        .hint("change the files as the reasons say, then /plan again"));
    }
    let missing = missing_privileges(&job.client, plan)
        .await
        .map_err(|e| connect::pve_error(e, &job.endpoint))?;
    if !missing.is_empty() {
        return Err(CommandError::user(format!(
            "the token {} may not make these changes; nothing was changed. Missing: {}",
            job.token_id,
            missing.join("; ")
        ))
        .hint("grant the privileges to the token (and, with privilege separation, to its user) in Datacenter > Permissions, or use another token")
        .with_report(std::mem::take(items)));
    }
    Ok(())
}

/// Shows the plan and asks for `yes`, naming what it destroys. Without a person at the terminal
/// it fails with the plan in the report (`items` moved into the error).
fn ask_to_apply(ctx: &mut Ctx, plan: &Plan, items: &mut Report) -> Result<bool, CommandError> {
    let destroys: Vec<String> = plan
        .actionable()
        .filter(|c| c.is_destructive())
        .map(|c| c.address())
        .collect();
    if !ctx.interactive {
        let mut output = std::mem::take(items);
        output.push(Item::Text(render_text(plan)));
        return Err(CommandError::user(
            "apply changes the cluster and needs a confirmation; nobody is at a terminal to give it",
        )
        .hint("review the plan above and run `proxmox-mpc apply --yes`")
        .with_report(output));
    }
    ctx.ui.render(&Item::Text(render_text(plan)));
    let question = if destroys.is_empty() {
        "Apply these changes? Type yes".to_string()
    } else {
        format!(
            "Apply these changes? This DESTROYS {}. Type yes",
            destroys.join(", ")
        )
    };
    Ok(ctx.ui.ask(&question, None).as_deref() == Some("yes"))
}

/// The apply's options: `--parallelism`, else config.yml's `defaults.parallelism`.
fn options(ctx: &mut Ctx, args: &ApplyArgs) -> Result<ApplyOptions, CommandError> {
    let mut opts = ApplyOptions::default();
    let parallelism = args
        .parallelism
        .unwrap_or(ctx.config()?.active_env().defaults.parallelism as usize)
        .max(1);
    opts.parallelism = parallelism;
    opts.per_node = parallelism;
    if let Some(point) = ctx.env_var("PMPC_CRASH_AT") {
        // Test-only: die like a killed process at the named journal point.
        opts.crash_hook = Some(Arc::new(move |p: &str| {
            if p == point {
                std::process::abort();
            }
            false
        }));
    }
    Ok(opts)
}

/// Carries out the plan, its progress on a spinner and passed to the context's event sink.
async fn apply_with_progress(
    ctx: &Ctx,
    job: &Job,
    plan_id: i64,
    plan: &Plan,
    opts: ApplyOptions,
) -> Result<ApplySummary, CommandError> {
    let total = plan.actionable().count();
    let finished = Arc::new(AtomicUsize::new(0));
    let spinner = Arc::new(ctx.ui.spinner(&format!("Applying 0/{total} steps")));
    let events = {
        let spinner = spinner.clone();
        let finished = finished.clone();
        let sink = ctx.event_sink();
        move |event: ApplyEvent| {
            if let Some(sink) = &sink {
                sink(crate::commands::context::Event::Apply(event.clone()));
            }
            show_progress(&spinner, &finished, total, event)
        }
    };
    let result = apply(&job.client, &job.db, plan_id, plan, opts, events).await;
    drop(spinner);
    result.map_err(|e| CommandError::user(e.to_string()))
}

/// After the steps: the audit-log entry, a new snapshot, the step lines, the write-back of the
/// server's choices, and the outcome.
async fn finish(
    job: &Job,
    plan_id: i64,
    plan: &Plan,
    summary: &ApplySummary,
    mut items: Report,
    written: &mut Written,
) -> Result<Report, CommandError> {
    let (done, failed, not_attempted) = summary.counts();
    // The audit entry names the outcome as the plans table stores it.
    let outcome = if summary.succeeded() {
        PlanStatus::Applied
    } else {
        PlanStatus::Failed
    }
    .as_str();
    let detail = json!({
        "token": job.token_id,
        "plan_id": plan_id,
        "outcome": outcome,
        "done": done,
        "failed": failed,
        "not_attempted": not_attempted,
        "steps": summary.lines(),
    });
    job.db
        .audit(
            &job.environment,
            "apply",
            &format!("plan {plan_id}"),
            Some(&detail.to_string()),
        )
        .await?;
    // What the cluster is now, for the next plan and /status.
    let observed = match observe(&job.client, &job.db, &job.environment).await {
        Ok((snapshot, _)) => Some(snapshot),
        Err(e) => {
            items.push(Item::Warning(format!(
                "the apply finished but the cluster could not be read afterwards: {}",
                e.message
            )));
            None
        }
    };
    for line in summary.lines() {
        items.push(Item::Status(line));
    }
    items.push(summary_data(summary));
    match write_back(&job.root, plan, summary, observed.as_ref(), written) {
        Ok(files) if !files.is_empty() => items.push(write_back_line(&files, job.full_lists)),
        Ok(_) => {}
        Err(e) => items.push(Item::Warning(format!(
            "the apply finished but the guest files could not be updated: {e}; run /sync to refresh them"
        ))),
    }
    if summary.succeeded() {
        let counts = plan.counts();
        items.push(Item::Status(format!(
            "Apply complete: {} added, {} changed, {} destroyed.",
            counts.add, counts.change, counts.destroy
        )));
        items.extend(plan_items_note(plan));
        Ok(items)
    } else {
        Err(CommandError::user(format!(
            "apply finished with problems: {done} done, {failed} failed, {not_attempted} not attempted"
        ))
        .hint("fix what the failures say and run /apply again; finished steps are not repeated")
        .with_report(items))
    }
}

/// The files the write-back touched: every one when few (or `full`), else how many and the
/// first few, since a big apply would otherwise print a wall of names.
fn write_back_line(files: &[String], full: bool) -> Item {
    let list = crate::ui::name_list(files, full);
    if full || files.len() <= crate::ui::LONG_LIST {
        Item::Status(format!("Wrote the server's choices back: {list}."))
    } else {
        Item::Status(format!(
            "Wrote the server's choices back to {} files ({list}; -v lists them).",
            files.len()
        ))
    }
}

/// The apply's typed outcome as report data: every step with its outcome, for `-o json` and
/// for front ends that forward reports; humans read the step lines instead.
fn summary_data(summary: &ApplySummary) -> Item {
    Item::Data {
        value: serde_json::to_value(summary).unwrap_or_default(),
        table: Table::default(),
    }
}

fn plan_items_note(plan: &Plan) -> Vec<Item> {
    plan.notes.iter().map(|n| Item::Status(n.clone())).collect()
}

/// Keeps the code exact after creates: a created guest's file (and its test spec) become what
/// `/sync` writes for the guest as the server now has it: its vmid, its `import {}` block, and
/// what the server chose (MAC addresses, volume names, generated ids), so the next `/sync` and
/// `/drift` find nothing and Terraform's import plans no change. Where the cluster could not
/// be read afterwards, the vmid and the import block are written into the file as it is.
/// Returns the files written.
fn write_back(
    root: &std::path::Path,
    plan: &Plan,
    summary: &crate::plan::apply::ApplySummary,
    observed: Option<&crate::model::ClusterSnapshot>,
    notes: &mut Written,
) -> Result<Vec<String>, String> {
    use crate::plan::apply::StepOutcome;
    let state = crate::iac::desired::read_desired(root).map_err(|e| e.to_string())?;
    // Loaded once: every created guest renders with them.
    let templates = crate::iac::Templates::with_overrides(Some(&root.join(".proxmox/templates")))
        .map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    for step in &summary.steps {
        let done = matches!(
            step.outcome,
            StepOutcome::Done { .. } | StepOutcome::AlreadyDone
        );
        let Some(change) = plan.changes.get(step.step) else {
            continue;
        };
        let (Some(vmid), Some(desired)) = (step.vmid, change.desired.as_ref()) else {
            continue;
        };
        if !done {
            continue;
        }
        if change.action == crate::plan::Action::Update {
            // A migrated guest's import id follows it.
            if let Some(file) = state.file_of(vmid)
                && let Some(old) = file.import_id.as_deref()
            {
                let new_id = format!("{}/{vmid}", desired.node);
                if old != new_id {
                    let path = root.join(&file.path);
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("{}: {e}", file.path))?;
                    let new = text.replacen(
                        &crate::iac::filters::hcl_string(old),
                        &crate::iac::filters::hcl_string(&new_id),
                        1,
                    );
                    if new != text {
                        crate::iac::sync::write_atomic(&path, new.as_bytes(), notes)
                            .map_err(|e| e.to_string())?;
                        written.push(file.path.clone());
                    }
                }
            }
            continue;
        }
        if !matches!(
            change.action,
            crate::plan::Action::Create | crate::plan::Action::Replace
        ) {
            continue;
        }
        let Some(file) = state.files.iter().find(|f| {
            f.guest.kind == desired.kind
                && f.guest.name == desired.name
                && (f.guest.vmid == vmid || f.guest.vmid == 0)
        }) else {
            continue;
        };
        if let Some(live) = observed.and_then(|o| o.guest(vmid))
            && live.name == desired.name
            && live.kind == desired.kind
        {
            written.extend(rewrite_from_live(
                root,
                file,
                live,
                &state.pool_idents,
                &templates,
                notes,
            )?);
            continue;
        }
        let path = root.join(&file.path);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", file.path))?;
        let mut new = text.clone();
        if file.guest.vmid != vmid {
            new = set_vm_id(&new, vmid);
        }
        if file.import_id.is_none() {
            let kind = crate::iac::terraform::resource_type(desired.kind);
            new = add_import(&new, kind, &file.ident, &format!("{}/{vmid}", desired.node));
        }
        if new != text {
            crate::iac::sync::write_atomic(&path, new.as_bytes(), notes)
                .map_err(|e| e.to_string())?;
            written.push(file.path.clone());
        }
    }
    Ok(written)
}

/// Finishes the write-back an interrupted apply left undone: every guest file without an import
/// block whose vmid exists in `observed` with the file's name and kind is written as the
/// write-back writes it ([`rewrite_from_live`]). Returns the files written.
fn repair_imports(
    root: &std::path::Path,
    observed: &crate::model::ClusterSnapshot,
    notes: &mut Written,
) -> Result<Vec<String>, String> {
    let state = crate::iac::desired::read_desired(root).map_err(|e| e.to_string())?;
    // Loaded once: every created guest renders with them.
    let templates = crate::iac::Templates::with_overrides(Some(&root.join(".proxmox/templates")))
        .map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    for file in state.files.iter().filter(|f| f.import_id.is_none()) {
        let Some(live) = observed.guest(file.guest.vmid) else {
            continue;
        };
        if file.guest.vmid == 0 || live.name != file.guest.name || live.kind != file.guest.kind {
            continue;
        }
        written.extend(rewrite_from_live(
            root,
            file,
            live,
            &state.pool_idents,
            &templates,
            notes,
        )?);
    }
    Ok(written)
}

/// Writes a created guest's file and test spec as `/sync` renders them from the live guest
/// (same file, same resource name). Returns the files that changed.
fn rewrite_from_live(
    root: &std::path::Path,
    file: &crate::iac::desired::DesiredFile,
    live: &crate::model::Guest,
    pool_idents: &std::collections::BTreeMap<String, String>,
    templates: &crate::iac::Templates,
    notes: &mut Written,
) -> Result<Vec<String>, String> {
    let rendered = crate::iac::terraform::render_guest(templates, live, &file.ident, pool_idents)
        .map_err(|e| e.to_string())?;
    let spec = crate::iac::spec::render_spec(templates, live).map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    for (rel, text) in [
        (file.path.clone(), rendered.text),
        (format!("tests/{}.yml", file.ident), spec),
    ] {
        let path = root.join(&rel);
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            continue;
        }
        crate::iac::sync::write_atomic(&path, text.as_bytes(), notes).map_err(|e| e.to_string())?;
        written.push(rel);
    }
    Ok(written)
}

/// Sets the top-level `vm_id` attribute of the guest resource.
fn set_vm_id(text: &str, vmid: u32) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut done = false;
    for line in text.lines() {
        let is_attr =
            line.starts_with("  vm_id") && line["  vm_id".len()..].trim_start().starts_with('=');
        if !done && is_attr {
            let width = line.find('=').unwrap_or(8);
            out.push(format!("{:<width$}= {vmid}", "  vm_id"));
            done = true;
        } else {
            out.push(line.to_string());
        }
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

/// Adds `import { to = TYPE.IDENT, id = "node/vmid" }` right before the resource block.
fn add_import(text: &str, resource_type: &str, ident: &str, id: &str) -> String {
    let block = format!(
        "import {{\n  to = {resource_type}.{ident}\n  id = {}\n}}\n\n",
        crate::iac::filters::hcl_string(id)
    );
    let marker = format!("resource \"{resource_type}\"");
    match text.find(&marker) {
        Some(at) => format!("{}{block}{}", &text[..at], &text[at..]),
        None => format!("{text}\n{block}"),
    }
}

/// Shows an apply's progress on the spinner.
fn show_progress(
    spinner: &crate::ui::Spinner,
    finished: &AtomicUsize,
    total: usize,
    event: ApplyEvent,
) {
    match event {
        ApplyEvent::StepStarted { address, .. } => {
            let n = finished.load(Ordering::SeqCst);
            spinner.set_message(&format!("Applying {n}/{total} steps: {address}"));
        }
        ApplyEvent::Progress { message, .. } => {
            let n = finished.load(Ordering::SeqCst);
            spinner.set_message(&format!("Applying {n}/{total} steps: {message}"));
        }
        ApplyEvent::StepFinished { .. } => {
            let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
            spinner.set_message(&format!("Applying {n}/{total} steps"));
        }
    }
}
