//! Units: sizes as typed (`512M`, `2G`, `1.5GiB`, a bare number in the flag's default unit),
//! sizes as shown (`2 GiB`), and the whole-number counts flags take.

use super::error::{GrammarError, q};

pub(super) const MIB: u64 = 1 << 20;
pub(super) const GIB: u64 = 1 << 30;

/// Parses a size. `default_unit` is the multiplier of a bare number (MiB or GiB).
pub fn parse_size(text: &str, default_unit: u64) -> Option<u64> {
    let t = text.trim();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    if number.is_empty() || number.starts_with('.') || number.matches('.').count() > 1 {
        return None;
    }
    let unit_bytes = match unit.to_ascii_lowercase().as_str() {
        "" => default_unit,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    if let Some((int, frac)) = number.split_once('.') {
        let int: u64 = int.parse().ok()?;
        if frac.is_empty() || frac.len() > 3 {
            return None;
        }
        let frac_val: u64 = frac.parse().ok()?;
        let scale = 10u64.pow(frac.len() as u32);
        let whole = int.checked_mul(unit_bytes)?;
        let part = unit_bytes.checked_mul(frac_val)? / scale;
        whole.checked_add(part)
    } else {
        number.parse::<u64>().ok()?.checked_mul(unit_bytes)
    }
}

/// Formats bytes as PVE-style text: `512 MiB`, `2 GiB`.
pub fn human_size(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

/// `--memory` or `--swap` in MiB (a bare number is MiB); memory must be 16 MiB to 4 TiB.
pub(super) fn memory_mib(flag: &str, text: &str) -> Result<u64, GrammarError> {
    let bytes = parse_size(text, MIB).ok_or_else(|| bad_size(flag, text, "MiB"))?;
    if bytes % MIB != 0 {
        return Err(GrammarError::new(format!(
            "--{flag} {} is not a whole number of MiB",
            q(text)
        )));
    }
    let mib = bytes / MIB;
    if flag == "memory" && !(16..=4 * 1024 * 1024).contains(&mib) {
        return Err(GrammarError::new(format!(
            "--memory {} is out of range: PVE accepts 16 MiB to 4 TiB",
            q(text)
        )));
    }
    Ok(mib)
}

fn bad_size(flag: &str, text: &str, bare: &str) -> GrammarError {
    GrammarError::new(format!(
        "bad size {} for --{flag}: use a number with M, G or T (512M, 2G, 2GiB); a bare number means {bare}",
        q(text)
    ))
}

/// A disk size in whole GiB (a bare number is GiB).
pub(super) fn disk_gib(flag: &str, text: &str) -> Result<u64, GrammarError> {
    let bytes = parse_size(text, GIB).ok_or_else(|| bad_size(flag, text, "GiB"))?;
    if bytes == 0 || bytes % GIB != 0 {
        return Err(GrammarError::new(format!(
            "--{flag} size {} is not a whole number of GiB (bpg/proxmox sizes disks in GiB)",
            q(text)
        )));
    }
    Ok(bytes / GIB)
}

/// A whole number from 1 to `max` (`--cores`, `--sockets`).
pub(super) fn count(flag: &str, text: &str, max: u32) -> Result<u32, GrammarError> {
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(GrammarError::new(format!(
            "--{flag} must be a whole number from 1 to {max} (got {})",
            q(text)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_units_and_fractions() {
        assert_eq!(parse_size("512", MIB), Some(512 * MIB));
        assert_eq!(parse_size("2G", MIB), Some(2 * GIB));
        assert_eq!(parse_size("1.5GiB", MIB), Some(GIB + GIB / 2));
        assert_eq!(parse_size(".5G", MIB), None);
        assert_eq!(parse_size("2X", MIB), None);
    }

    #[test]
    fn sizes_show_in_mib_or_gib() {
        assert_eq!(human_size(512 * MIB), "512 MiB");
        assert_eq!(human_size(2 * GIB), "2 GiB");
        assert_eq!(human_size(GIB + GIB / 2), "1.5 GiB");
    }

    #[test]
    fn disks_are_whole_gib() {
        assert_eq!(disk_gib("disk", "32"), Ok(32));
        assert!(disk_gib("disk", "512M").is_err());
    }
}
