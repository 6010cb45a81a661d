//! The built-in parser: a fixed table of phrasings turned into this console's own command
//! lines, deterministically, from the words typed and the workspace's names alone (a guest's
//! description or notes are never read here, so nothing in them can become a command). What
//! it does not understand it says plainly, pointing at `/help`.

use regex::Regex;

/// One guest as the parser sees it: the facts a phrasing selects by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFacts {
    pub name: String,
    pub container: bool,
    pub running: bool,
    pub template: bool,
    pub tags: Vec<String>,
    pub pool: Option<String>,
    pub cores: Option<u32>,
    pub memory_mib: Option<u64>,
}

/// What the parser knows of the workspace: its guests (files and last sync) and nodes.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub guests: Vec<GuestFacts>,
    pub nodes: Vec<String>,
    /// Today's date (`2026-12-07`) and weekday (0 = Monday), for "since monday".
    pub today: Option<(chrono::NaiveDate, u32)>,
}

impl Facts {
    fn guest(&self, name: &str) -> Option<&GuestFacts> {
        self.guests
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(name))
    }
}

/// What a phrasing turned into: the command lines, or, when nothing is to be done, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Commands(Vec<String>),
    /// Understood, but nothing matches (no running lab VMs): the sentence says so.
    Nothing(String),
    /// Not understood.
    Unknown,
}

/// Turns `text` into command lines.
pub fn parse(text: &str, facts: &Facts) -> Parsed {
    let text = normalize(text);
    for rule in [
        create as fn(&str, &Facts) -> Option<Parsed>,
        power,
        grow,
        snapshot,
        question,
        single,
    ] {
        if let Some(parsed) = rule(&text, facts) {
            return parsed;
        }
    }
    Parsed::Unknown
}

/// Lower case, single spaces, no closing punctuation, no "please".
fn normalize(text: &str) -> String {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split_whitespace()
        .filter(|w| *w != "please")
        .collect();
    words
        .join(" ")
        .trim_end_matches(['?', '.', '!'])
        .trim()
        .to_string()
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the parser's patterns are valid")
}

/// `three`, `3`, `a` -> 3, 3, 1.
fn number(word: &str) -> Option<u64> {
    const WORDS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    match word {
        "a" | "an" | "another" => Some(1),
        _ => word
            .parse()
            .ok()
            .or_else(|| WORDS.iter().position(|w| *w == word).map(|n| n as u64)),
    }
}

/// `4 gb`, `512mb`, `2g` -> `4G`, `512M`, `2G`.
fn size(amount: &str, unit: &str) -> String {
    let unit = if unit.starts_with('m') { "M" } else { "G" };
    format!("{amount}{unit}")
}

/// The name prefix a role word stands for (`web servers` -> `web`, `database` -> `db`).
fn prefix(role: &str) -> String {
    match role {
        "database" | "databases" | "db" | "postgres" | "mysql" => "db".into(),
        "application" | "app" => "app".into(),
        "" => "vm".into(),
        other => other.trim_end_matches('s').to_string(),
    }
}

/// The next `count` free names `prefix-NN` after the highest number in use.
fn next_names(prefix: &str, count: u64, facts: &Facts) -> Vec<String> {
    let pattern = re(&format!(r"^{}-(\d+)$", regex::escape(prefix)));
    let mut width = 2;
    let mut highest = 0u64;
    for g in &facts.guests {
        if let Some(c) = pattern.captures(&g.name.to_lowercase()) {
            width = width.max(c[1].len());
            highest = highest.max(c[1].parse().unwrap_or(0));
        }
    }
    (1..=count)
        .map(|i| format!("{prefix}-{:0width$}", highest + i))
        .collect()
}

/// "create three web servers with 4 GB each on pve2", "make me an app server", "add 2
/// containers"... -> `create vm --name web-03 --memory 4G --node pve2` per guest.
fn create(text: &str, facts: &Facts) -> Option<Parsed> {
    let head = re(
        r"^(?:create|make|add|spin up|set up|build|deploy|provision|i need|i want|give me)(?: me)?(?: (?P<count>\w+))?(?: new)?(?: (?P<role>[a-z][a-z0-9]*))? (?P<what>servers?|vms?|virtual machines?|machines?|boxes|instances?|containers?|cts?)\b(?P<rest>.*)$",
    );
    let c = head.captures(text)?;
    let (count, mut role) = match (c.name("count").map(|m| m.as_str()), c.name("role")) {
        (Some(w), role) if number(w).is_some() => (number(w)?, role.map_or("", |r| r.as_str())),
        // "make web servers": the first word is the role, one of them.
        (Some(w), None) => (1, w),
        (Some(_), Some(_)) => return None,
        (None, role) => (1, role.map_or("", |r| r.as_str())),
    };
    if matches!(role, "new" | "more") {
        role = "";
    }
    if count == 0 || count > 20 {
        return None;
    }
    let container = c["what"].starts_with('c');
    let rest = c.name("rest").map_or("", |m| m.as_str());
    let mut flags = Vec::new();
    let memory =
        re(r"(\d+(?:\.\d+)?) ?(gb|gib|g|mb|mib|m)\b(?: (?:of )?(?:memory|ram))?(?: each)?");
    let disk = re(r"(\d+) ?(gb|gib|g|tb) (?:disks?|of disk|storage)");
    let cores = re(r"(\w+) (?:cores?|cpus?|vcpus?)");
    let node = re(r"\bon (?:node )?([a-z0-9][a-z0-9-]*)");
    let mut rest_left = rest.to_string();
    if let Some(d) = disk.captures(rest) {
        let unit = if &d[2] == "tb" { "T" } else { "G" };
        flags.push(format!(
            "--{} {}{unit}",
            if container { "rootfs" } else { "disk" },
            &d[1]
        ));
        rest_left = rest_left.replace(&d[0], "");
    }
    if let Some(m) = memory.captures(&rest_left) {
        flags.push(format!("--memory {}", size(&m[1], &m[2])));
    }
    if let Some(n) = cores.captures(rest).and_then(|c| number(&c[1])) {
        flags.push(format!("--cores {n}"));
    }
    if let Some(n) = node.captures(rest) {
        flags.push(format!("--node {}", &n[1]));
    }
    let kind = if container { "container" } else { "vm" };
    let names = next_names(&prefix(role), count, facts);
    Some(Parsed::Commands(
        names
            .iter()
            .map(|name| {
                let mut line = format!("create {kind} --name {name}");
                for f in &flags {
                    line.push(' ');
                    line.push_str(f);
                }
                line
            })
            .collect(),
    ))
}

/// Which guests a selector word picks: a tag, a pool or a name prefix (`lab` -> tagged lab,
/// in pool lab, or named lab-*); "all" or nothing picks every guest. Templates never.
fn select<'a>(facts: &'a Facts, word: Option<&str>, kinds: &str) -> Vec<&'a GuestFacts> {
    let word = word.filter(|w| !matches!(*w, "all" | "every" | "the" | "my"));
    facts
        .guests
        .iter()
        .filter(|g| !g.template)
        .filter(|g| match kinds {
            "vm" => !g.container,
            "container" => g.container,
            _ => true,
        })
        .filter(|g| {
            word.is_none_or(|w| {
                g.tags.iter().any(|t| t == w)
                    || g.pool.as_deref() == Some(w)
                    || g.name.to_lowercase().starts_with(&format!("{w}-"))
            })
        })
        .collect()
}

/// `vms` -> vm, `containers` -> container, `guests` -> both.
fn kinds_of(word: &str) -> &'static str {
    if word.starts_with("vm") || word.starts_with("virtual") {
        "vm"
    } else if word.starts_with("container") || word.starts_with("ct") {
        "container"
    } else {
        "guest"
    }
}

fn kind_word(g: &GuestFacts) -> &'static str {
    if g.container { "container" } else { "vm" }
}

const KIND_WORDS: &str = r"(?P<kinds>vms|vm|virtual machines|containers|container|cts|guests|guest|machines|machine|servers|server)";

/// "stop all lab vms", "start every stopped container", "reboot the web servers".
fn power(text: &str, facts: &Facts) -> Option<Parsed> {
    let pattern = re(&format!(
        r"^(?P<verb>stop|start|shutdown|shut down|reboot|restart|power off|power on|boot)(?: all| every| each)?(?: of)?(?: the)?(?: (?P<sel>[a-z0-9-]+))? {KIND_WORDS}$"
    ));
    let c = pattern.captures(text)?;
    let verb = match &c["verb"] {
        "stop" | "power off" => "stop",
        "start" | "power on" | "boot" => "start",
        "shutdown" | "shut down" => "shutdown",
        _ => "reboot",
    };
    let sel = c.name("sel").map(|m| m.as_str());
    let kinds = kinds_of(&c["kinds"]);
    let (sel, state_word) = match sel {
        Some("running") => (None, Some(true)),
        Some("stopped") => (None, Some(false)),
        other => (other, None),
    };
    // Only guests the verb changes: a stopped guest is not stopped again.
    let want_running = state_word.unwrap_or(verb != "start");
    let chosen: Vec<&GuestFacts> = select(facts, sel, kinds)
        .into_iter()
        .filter(|g| g.running == want_running)
        .collect();
    let what = format!(
        "{}{}",
        sel.map(|s| format!("{s} ")).unwrap_or_default(),
        &c["kinds"]
    );
    if chosen.is_empty() {
        return Some(Parsed::Nothing(format!(
            "no {} {what} in the last sync, so there is nothing to {verb} (/sync reads the cluster again)",
            if want_running { "running" } else { "stopped" }
        )));
    }
    Some(Parsed::Commands(
        chosen
            .iter()
            .map(|g| format!("{verb} {} {}", kind_word(g), g.name))
            .collect(),
    ))
}

/// "give db-01 two more cores", "give web-01 4 more gb", "give db-01 8 gb of memory", "add two
/// cores to db-01".
fn grow(text: &str, facts: &Facts) -> Option<Parsed> {
    let give = re(
        r"^(?:give|add to) (?P<name>[a-z0-9][a-z0-9.-]*) (?P<n>[\w.]+)(?: ?(?P<unit>gb|gib|g|mb|mib|m))?(?P<more> more)? (?P<what>cores?|cpus?|vcpus?|gb|gib|memory|ram|mb)(?: of (?:memory|ram))?$",
    );
    let add = re(
        r"^add (?P<n>\w+)(?: ?(?P<unit>gb|g|mb|m))? (?P<what>cores?|cpus?|vcpus?|gb|memory|ram|mb)(?: of (?:memory|ram))? to (?P<name>[a-z0-9][a-z0-9.-]*)$",
    );
    let c = give.captures(text).or_else(|| add.captures(text))?;
    let Some(guest) = facts.guest(&c["name"]) else {
        return Some(no_such_guest(&c["name"]));
    };
    let more = c.name("more").is_some() || text.starts_with("add ");
    let what = &c["what"];
    let n: f64 = match number(&c["n"]) {
        Some(n) => n as f64,
        None => c["n"].parse().ok()?,
    };
    let line = if what.starts_with('c') || what.contains("cpu") {
        let now = if more {
            guest.cores.unwrap_or(1) as f64
        } else {
            0.0
        };
        format!(
            "set {} {} --cores {}",
            kind_word(guest),
            guest.name,
            (now + n) as u64
        )
    } else {
        let unit = c.name("unit").map_or(what, |u| u.as_str());
        let mib = if unit.starts_with('m') && unit != "memory" {
            n
        } else {
            n * 1024.0
        };
        let now = if more {
            guest.memory_mib.unwrap_or(0) as f64
        } else {
            0.0
        };
        let total = (now + mib).round() as u64;
        let memory = if total.is_multiple_of(1024) {
            format!("{}G", total / 1024)
        } else {
            format!("{total}M")
        };
        format!("set {} {} --memory {memory}", kind_word(guest), guest.name)
    };
    Some(Parsed::Commands(vec![line]))
}

/// The answer about a guest the workspace does not know.
fn no_such_guest(name: &str) -> Parsed {
    Parsed::Nothing(format!(
        "there is no guest `{name}` in the files or the last sync (`list vms` and `list containers` show them)"
    ))
}

/// "snapshot every prod guest before the upgrade", "snapshot web-01", "take a snapshot of all
/// lab vms".
fn snapshot(text: &str, facts: &Facts) -> Option<Parsed> {
    let pattern = re(&format!(
        r"^(?:snapshot|take (?:a )?snapshots? of) (?:(?:all|every|each)(?: of)?(?: the)? (?P<sel>[a-z0-9-]+)? ?{KIND_WORDS}|(?P<one>[a-z0-9][a-z0-9.-]*))(?: (?P<why>(?:before|after|for) .+))?$"
    ));
    let c = pattern.captures(text)?;
    let chosen: Vec<&GuestFacts> = match c.name("one") {
        Some(one) => vec![facts.guest(one.as_str())?],
        None => select(
            facts,
            c.name("sel").map(|m| m.as_str()),
            kinds_of(&c["kinds"]),
        ),
    };
    if chosen.is_empty() {
        return Some(Parsed::Nothing(
            "no guest matches that in the last sync, so there is nothing to snapshot".into(),
        ));
    }
    let name = snapshot_name(c.name("why").map(|m| m.as_str()), facts);
    Some(Parsed::Commands(
        chosen
            .iter()
            .map(|g| format!("snapshot {} {} --name {name}", kind_word(g), g.name))
            .collect(),
    ))
}

/// "before the upgrade" -> `before_upgrade` (a valid PVE snapshot name: a letter first, then
/// letters, digits, `_` and `-`, at most 40); without a reason, `ask_` and the date.
fn snapshot_name(why: Option<&str>, facts: &Facts) -> String {
    let words: Vec<String> = why
        .unwrap_or_default()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && !matches!(*w, "the" | "a" | "an" | "our" | "my"))
        .map(str::to_string)
        .collect();
    let mut name = words.join("_");
    if name.is_empty() {
        let day = facts.today.map_or_else(
            || "snapshot".to_string(),
            |(d, _)| d.format("%Y%m%d").to_string(),
        );
        name = format!("ask_{day}");
    }
    name.truncate(40);
    name
}

/// Questions that only read: "which vms are stopped", "which guests are on pve2", "what
/// changed since monday", "is there drift", "what would apply do", "how is the cluster".
fn question(text: &str, facts: &Facts) -> Option<Parsed> {
    let which = re(&format!(
        r"^(?:which|what|list|show(?: me)?)(?: are)?(?: the| all| my)? {KIND_WORDS}(?: are| is)?(?: (?:on (?:node )?(?P<node>[a-z0-9-]+)|(?P<state>stopped|running)|tagged (?P<tag>[a-z0-9-]+)|in (?:pool )?(?P<pool>[a-z0-9-]+)))?$"
    ));
    if let Some(c) = which.captures(text) {
        let list = match kinds_of(&c["kinds"]) {
            "container" => "list containers",
            // `list` has no word for both kinds; VMs are what people mean by machines.
            _ => "list vms",
        };
        let mut line = list.to_string();
        if let Some(n) = c.name("node") {
            line.push_str(&format!(" --node {}", n.as_str()));
        }
        if let Some(s) = c.name("state") {
            line.push_str(&format!(" --status {}", s.as_str()));
        }
        if let Some(t) = c.name("tag") {
            line.push_str(&format!(" --tag {}", t.as_str()));
        }
        if let Some(p) = c.name("pool") {
            line.push_str(&format!(" --pool {}", p.as_str()));
        }
        let mut lines = vec![line];
        if c["kinds"].starts_with('g') && !list.contains("containers") {
            lines.push(lines[0].replacen("list vms", "list containers", 1));
        }
        return Some(Parsed::Commands(lines));
    }
    let changed = re(r"^what (?:has )?changed(?: since (?P<since>.+))?$");
    if let Some(c) = changed.captures(text) {
        return Some(Parsed::Commands(vec![match c.name("since") {
            Some(since) => format!("/history --since {}", since_word(since.as_str(), facts)?),
            None => "/history".into(),
        }]));
    }
    let fixed: &[(&str, &str)] = &[
        (
            r"^(?:is there|any|did anything|has anything|what) (?:drift|drifted)$",
            "/drift",
        ),
        (
            r"^(?:is there any drift|what drifted|show (?:the )?drift)$",
            "/drift",
        ),
        (
            r"^(?:what would apply do|what is pending|what's pending|show (?:me )?the plan|plan)$",
            "/plan",
        ),
        (
            r"^(?:how is the cluster|status|show (?:the )?status|what is the status)$",
            "/status",
        ),
        (r"^(?:list|show|which are the) nodes$", "list nodes"),
        (
            r"^(?:what does it cost|how much does it cost|show (?:the )?costs?)$",
            "/cost",
        ),
        (
            r"^(?:run the tests|test everything|are the tests passing)$",
            "/test",
        ),
    ];
    fixed
        .iter()
        .find(|(p, _)| re(p).is_match(text))
        .map(|(_, line)| Parsed::Commands(vec![line.to_string()]))
}

/// "monday" -> the date of the last Monday; "3 days" / "yesterday" / a date as `/history`
/// takes them.
fn since_word(word: &str, facts: &Facts) -> Option<String> {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    if let Some(day) = DAYS.iter().position(|d| *d == word) {
        let (today, weekday) = facts.today?;
        let back = (weekday + 7 - day as u32) % 7;
        let date = today - chrono::Duration::days(back.into());
        return Some(date.format("%Y-%m-%d").to_string());
    }
    match word {
        "yesterday" => Some("1d".into()),
        "last week" => Some("1w".into()),
        "an hour ago" => Some("1h".into()),
        w if re(r"^\d{4}-\d{2}-\d{2}$").is_match(w) => Some(w.into()),
        w => {
            let c = re(r"^(\w+) (minute|hour|day|week)s?(?: ago)?$").captures(w)?;
            let unit = match &c[2] {
                "minute" => "m",
                "hour" => "h",
                "day" => "d",
                _ => "w",
            };
            Some(format!("{}{unit}", number(&c[1])?))
        }
    }
}

/// One guest by name: "start db-02", "delete web-03", "show web-01", "move web-01 to pve3".
fn single(text: &str, facts: &Facts) -> Option<Parsed> {
    let pattern = re(
        r"^(?P<verb>start|stop|shutdown|shut down|reboot|restart|delete|remove|destroy|show|describe|what is|tell me about|move|migrate)(?: the)?(?: guest| vm| container)? (?P<name>[a-z0-9][a-z0-9.-]*)(?: to (?:node )?(?P<to>[a-z0-9-]+))?$",
    );
    let c = pattern.captures(text)?;
    let Some(guest) = facts.guest(&c["name"]) else {
        return Some(no_such_guest(&c["name"]));
    };
    let kind = kind_word(guest);
    let name = &guest.name;
    let line = match (&c["verb"], c.name("to")) {
        ("move" | "migrate", Some(to)) => format!("migrate {kind} {name} --to {}", to.as_str()),
        ("move" | "migrate", None) => return None,
        (_, Some(_)) => return None,
        ("start", _) => format!("start {kind} {name}"),
        ("stop", _) => format!("stop {kind} {name}"),
        ("shutdown" | "shut down", _) => format!("shutdown {kind} {name}"),
        ("reboot" | "restart", _) => format!("reboot {kind} {name}"),
        ("delete" | "remove" | "destroy", _) => format!("delete {kind} {name}"),
        _ => format!("show {kind} {name}"),
    };
    Some(Parsed::Commands(vec![line]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(name: &str, tags: &[&str], running: bool, cores: u32, mib: u64) -> GuestFacts {
        GuestFacts {
            name: name.into(),
            container: false,
            running,
            template: false,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pool: None,
            cores: Some(cores),
            memory_mib: Some(mib),
        }
    }

    #[test]
    fn the_table_of_phrasings() {
        let facts = Facts {
            guests: vec![
                g("web-01", &["prod", "web"], true, 2, 2048),
                g("web-02", &["prod", "web"], true, 2, 2048),
                g("db-01", &["prod", "db"], true, 4, 8192),
                g("lab-01", &["lab"], true, 1, 1024),
                g("lab-02", &["lab"], false, 1, 1024),
            ],
            nodes: vec!["pve1".into(), "pve2".into()],
            today: Some((chrono::NaiveDate::from_ymd_opt(2026, 12, 9).unwrap(), 2)),
        };
        let cases: &[(&str, &[&str])] = &[
            (
                "create three web servers with 4 GB each on pve2",
                &[
                    "create vm --name web-03 --memory 4G --node pve2",
                    "create vm --name web-04 --memory 4G --node pve2",
                    "create vm --name web-05 --memory 4G --node pve2",
                ],
            ),
            ("stop all lab vms", &["stop vm lab-01"]),
            ("give db-01 two more cores", &["set vm db-01 --cores 6"]),
            ("give web-01 2 more GB", &["set vm web-01 --memory 4G"]),
            (
                "snapshot every prod guest before the upgrade",
                &[
                    "snapshot vm web-01 --name before_upgrade",
                    "snapshot vm web-02 --name before_upgrade",
                    "snapshot vm db-01 --name before_upgrade",
                ],
            ),
            ("which vms are stopped?", &["list vms --status stopped"]),
            (
                "what changed since monday",
                &["/history --since 2026-12-07"],
            ),
            ("migrate web-01 to pve2", &["migrate vm web-01 --to pve2"]),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse(text, &facts),
                Parsed::Commands(want.iter().map(|s| s.to_string()).collect()),
                "{text}"
            );
        }
        assert_eq!(parse("make me a sandwich", &facts), Parsed::Unknown);
        assert!(matches!(parse("delete web-09", &facts), Parsed::Nothing(_)));
        assert_eq!(
            parse("reboot the web servers", &facts),
            Parsed::Commands(vec!["reboot vm web-01".into(), "reboot vm web-02".into()])
        );
        assert_eq!(
            parse("start every stopped vm", &facts),
            Parsed::Commands(vec!["start vm lab-02".into()])
        );
        assert_eq!(
            parse("add two db containers with 2 cores", &facts),
            Parsed::Commands(vec![
                "create container --name db-02 --cores 2".into(),
                "create container --name db-03 --cores 2".into()
            ])
        );
        assert!(matches!(
            parse("stop all prod containers", &facts),
            Parsed::Nothing(_)
        ));
    }
}
