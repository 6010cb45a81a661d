//! HCL identifiers (and file names) for guests, pools, networks and storages: valid, unique and
//! stable across syncs.
//!
//! A guest keeps the identifier its file already has (read back from the file's import block),
//! so renaming the guest on the server or adding another guest of the same name never renames a
//! file. New guests get their name made into an identifier; when that is taken, the vmid is
//! appended (`web`, `web_101`). Guests are visited in vmid order, so the result depends only on
//! the inputs.

use std::collections::{BTreeMap, BTreeSet};

/// Turns free text into a Terraform identifier: lowercase ASCII letters, digits and `_`, never
/// starting with a digit. Returns `None` when nothing usable is left.
pub fn sanitize(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        return None;
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "g_");
    }
    Some(out)
}

/// Assigns identifiers to guests given as `(vmid, name)`. `existing` holds the identifiers the
/// workspace files already use (vmid -> identifier); those are kept. `reserved` are names a new
/// guest must not take: other files' names in the root module (the identifier is also the file
/// name) and the identifiers of files whose guest is gone but whose file is kept.
pub fn assign_guest_idents(
    guests: &[(u32, &str)],
    existing: &BTreeMap<u32, String>,
    reserved: &BTreeSet<String>,
) -> BTreeMap<u32, String> {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut out = BTreeMap::new();
    let mut sorted: Vec<(u32, &str)> = guests.to_vec();
    sorted.sort_by_key(|(vmid, _)| *vmid);
    // A guest's own file keeps its name even where that name is reserved (it is that file).
    for (vmid, _) in &sorted {
        if let Some(ident) = existing.get(vmid)
            && taken.insert(ident.clone())
        {
            out.insert(*vmid, ident.clone());
        }
    }
    taken.extend(reserved.iter().cloned());
    for (vmid, name) in &sorted {
        if out.contains_key(vmid) {
            continue;
        }
        let base = sanitize(name).unwrap_or_else(|| format!("guest_{vmid}"));
        let ident = if !taken.contains(&base) {
            base
        } else {
            let mut candidate = format!("{base}_{vmid}");
            let mut n = 2;
            while taken.contains(&candidate) {
                candidate = format!("{base}_{vmid}_{n}");
                n += 1;
            }
            candidate
        };
        taken.insert(ident.clone());
        out.insert(*vmid, ident);
    }
    out
}

/// Assigns unique identifiers to keys in order (pools, storages, networks), deterministic for a
/// given input order.
pub fn assign_idents<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for key in keys {
        let base = sanitize(key).unwrap_or_else(|| "unnamed".to_string());
        let mut ident = base.clone();
        let mut n = 2;
        while !taken.insert(ident.clone()) {
            ident = format!("{base}_{n}");
            n += 1;
        }
        out.push(ident);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_get_the_vmid_and_existing_names_are_kept() {
        let guests = [(101, "web"), (100, "web"), (102, "Web!"), (103, "💥")];
        let ids = assign_guest_idents(&guests, &BTreeMap::new(), &BTreeSet::new());
        assert_eq!(ids[&100], "web");
        assert_eq!(ids[&101], "web_101");
        assert_eq!(ids[&102], "web_102");
        assert_eq!(ids[&103], "guest_103");
        let existing = BTreeMap::from([(101, "web".to_string())]);
        let ids = assign_guest_idents(&guests, &existing, &BTreeSet::new());
        assert_eq!(ids[&101], "web");
        assert_eq!(ids[&100], "web_100");
        assert_eq!(sanitize("9lives").as_deref(), Some("g_9lives"));
    }
}
