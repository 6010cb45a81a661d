//! The last-sync base in `state.db` ([`crate::iac::drift::GuestBase`] per guest and
//! environment), read and written for the operations that judge drift: `/sync` keeps it,
//! `/drift` and `watch` read it, `/resolve` moves one field.

use crate::error::CommandError;
use crate::iac::drift::{Bases, GuestBase};
use crate::state::StateDb;

/// The bases of `environment`. A row that cannot be read counts as no base (its guest's
/// differences are then of unknown side, never wrongly called drift or pending).
pub async fn load(db: &StateDb, environment: &str) -> Result<Bases, CommandError> {
    let rows = db.sync_bases(environment).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(vmid, text)| {
            serde_json::from_str::<GuestBase>(&text)
                .ok()
                .map(|b| (vmid, b))
        })
        .collect())
}

/// Stores `bases` for `environment` (taken at snapshot `serial`) and removes `removed`.
pub async fn save(
    db: &StateDb,
    environment: &str,
    serial: Option<i64>,
    bases: &Bases,
    removed: &[u32],
) -> Result<(), CommandError> {
    let mut rows = std::collections::BTreeMap::new();
    for (vmid, base) in bases {
        let text = serde_json::to_string(base)
            .map_err(|e| CommandError::internal(format!("cannot store the base of {vmid}: {e}")))?;
        rows.insert(*vmid, text);
    }
    db.save_sync_bases(environment, serial, &rows, removed)
        .await?;
    Ok(())
}
