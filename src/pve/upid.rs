//! Task ids (UPIDs): `UPID:$node:$pid:$pstart:$starttime:$type:$id:$user:` (pve-common
//! `src/PVE/UPID.pm`). Every async PVE call returns one; the node inside it is where the task
//! status is polled.

use std::fmt;
use std::str::FromStr;

/// A parsed PVE task id. `Display` gives back the exact original text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upid {
    raw: String,
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    /// Unix time the task started.
    pub starttime: i64,
    /// Task type (`qmstart`, `vzcreate`, ...).
    pub task_type: String,
    /// Object id, usually the vmid; may be empty.
    pub id: String,
    /// `user@realm` or `user@realm!tokenid`.
    pub user: String,
}

/// Why a text is not a UPID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpidParseError {
    pub text: String,
    pub reason: &'static str,
}

impl fmt::Display for UpidParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a PVE task id (UPID): {}",
            self.text, self.reason
        )
    }
}

impl std::error::Error for UpidParseError {}

fn hex<T: TryFrom<u64>>(text: &str, min_len: usize, max_len: usize) -> Option<T> {
    if text.len() < min_len || text.len() > max_len || !text.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    u64::from_str_radix(text, 16)
        .ok()
        .and_then(|v| T::try_from(v).ok())
}

impl FromStr for Upid {
    type Err = UpidParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| UpidParseError {
            text: text.chars().take(200).collect(),
            reason,
        };
        let body = text
            .strip_prefix("UPID:")
            .ok_or_else(|| err("it does not start with 'UPID:'"))?;
        let body = body
            .strip_suffix(':')
            .ok_or_else(|| err("it does not end with ':'"))?;
        // node:pid:pstart:starttime:type:id:user — the user (token ids contain '!') is last and
        // may not contain ':'; the id may be empty.
        let parts: Vec<&str> = body.split(':').collect();
        if parts.len() != 7 {
            return Err(err("it does not have 7 fields"));
        }
        let node = parts[0];
        if node.is_empty()
            || !node
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err(err("the node name is invalid"));
        }
        let pid = hex(parts[1], 8, 8).ok_or_else(|| err("the pid is not 8 hex digits"))?;
        let pstart = hex(parts[2], 8, 9).ok_or_else(|| err("pstart is not 8-9 hex digits"))?;
        let starttime =
            hex(parts[3], 8, 8).ok_or_else(|| err("the start time is not 8 hex digits"))?;
        if parts[4].is_empty() {
            return Err(err("the task type is empty"));
        }
        if parts[6].is_empty() || !parts[6].contains('@') {
            return Err(err("the user is not user@realm"));
        }
        Ok(Upid {
            raw: text.to_string(),
            node: node.to_string(),
            pid,
            pstart,
            starttime,
            task_type: parts[4].to_string(),
            id: parts[5].to_string(),
            user: parts[6].to_string(),
        })
    }
}

impl Upid {
    /// Returns the UPID text exactly as PVE sent it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Returns the vmid the task works on, when its id is one.
    pub fn vmid(&self) -> Option<u32> {
        self.id.parse().ok()
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_token_task() {
        let text = "UPID:pve1:000A1B2C:0012D687:6745F0A1:qmstart:100:root@pam!mpc:";
        let upid: Upid = text.parse().unwrap();
        assert_eq!(upid.node, "pve1");
        assert_eq!(upid.pid, 0xA1B2C);
        assert_eq!(upid.task_type, "qmstart");
        assert_eq!(upid.vmid(), Some(100));
        assert_eq!(upid.user, "root@pam!mpc");
        assert_eq!(upid.to_string(), text);
    }

    #[test]
    fn empty_id_is_allowed_and_9_digit_pstart() {
        let upid: Upid = "UPID:n:00000001:123456789:6745F0A1:vzdump::root@pam:"
            .parse()
            .unwrap();
        assert_eq!(upid.id, "");
        assert_eq!(upid.vmid(), None);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "UPID:",
            "hello",
            "UPID:pve1:zz:0012D687:6745F0A1:qmstart:100:root@pam:",
            "UPID:pve1:000A1B2C:0012D687:6745F0A1:qmstart:100:root@pam",
            "UPID:pve1:000A1B2C:0012D687:6745F0A1:qmstart:100:",
            "UPID:p ve:000A1B2C:0012D687:6745F0A1:qmstart:100:root@pam:",
            "UPID:pve1:000A1B2C:0012D687:6745F0A1::100:root@pam:",
            "UPID:é:000A1B2C:0012D687:6745F0A1:x:100:root@pam:",
        ] {
            assert!(bad.parse::<Upid>().is_err(), "{bad} parsed");
        }
    }
}
