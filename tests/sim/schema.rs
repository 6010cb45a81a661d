//! Schema conformance: every served route is in the official schema extract with that method,
//! rejects parameters the schema does not define, and answers with data that validates against
//! the schema's `returns` (with PVE's own Perl looseness: numbers may be numeric strings and
//! booleans 0/1).

use std::collections::BTreeSet;

use proxmox_mpc::sim::{TokenKind, schema_json, served_routes};
use serde_json::Value;

use super::common::{Api, homelab, urlencode};

fn schema_routes() -> serde_json::Map<String, Value> {
    let v: Value = serde_json::from_str(schema_json()).expect("embedded schema is JSON");
    assert_eq!(v["source"], "pve-9.1-apischema.flat.json");
    v["routes"].as_object().expect("routes object").clone()
}

fn is_numeric_string(v: &Value, integer: bool) -> bool {
    v.as_str().is_some_and(|s| {
        if integer {
            s.parse::<i64>().is_ok()
        } else {
            s.parse::<f64>().is_ok()
        }
    })
}

/// Validates `value` against a (trimmed) PVE schema; pushes every violation into `errors`.
/// `loose_strings`: PVE's pending list copies parsed config values, so a schema `string` there
/// is a JSON number for integer keys (Perl emits whatever the scalar last was).
fn validate(
    value: &Value,
    schema: &Value,
    at: &str,
    loose_strings: bool,
    errors: &mut Vec<String>,
) {
    let Some(kind) = schema.get("type").and_then(Value::as_str) else {
        return;
    };
    let ok = match kind {
        "null" => value.is_null(),
        "integer" => value.is_i64() || value.is_u64() || is_numeric_string(value, true),
        "number" => value.is_number() || is_numeric_string(value, false),
        "boolean" => {
            value.is_boolean()
                || value.as_i64().is_some_and(|n| n == 0 || n == 1)
                || matches!(value.as_str(), Some("0") | Some("1"))
        }
        "string" => value.is_string() || (loose_strings && value.is_number()),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "any" => true,
        _ => true,
    };
    if !ok {
        errors.push(format!("{at}: expected {kind}, got {value}"));
        return;
    }
    if kind == "string"
        && let (Some(allowed), Some(s)) =
            (schema.get("enum").and_then(Value::as_array), value.as_str())
        && !allowed.iter().any(|a| a == s)
    {
        errors.push(format!("{at}: '{s}' is not one of {allowed:?}"));
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            validate(item, items, &format!("{at}[{i}]"), loose_strings, errors);
        }
    }
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (name, prop) in props {
            match obj.get(name) {
                Some(v) => validate(v, prop, &format!("{at}.{name}"), loose_strings, errors),
                None => {
                    let optional = prop.get("optional").is_some_and(|o| o == 1 || o == true);
                    // `[n]` keys (net[n]) are patterns, not names
                    if !optional && !name.contains("[n]") {
                        errors.push(format!("{at}: missing required '{name}'"));
                    }
                }
            }
        }
        // numbered keys (net0) validate against their `[n]` schema
        for (name, v) in obj {
            if props.contains_key(name) {
                continue;
            }
            let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
            if stem.len() < name.len()
                && let Some(prop) = props.get(&format!("{stem}[n]"))
            {
                validate(v, prop, &format!("{at}.{name}"), loose_strings, errors);
            }
        }
    }
}

#[test]
fn every_served_route_is_in_the_official_schema() {
    let routes = schema_routes();
    let served = served_routes();
    assert!(
        served.len() >= 70,
        "the simulator serves {} routes",
        served.len()
    );
    for key in &served {
        let (method, path) = key.split_once(' ').expect("METHOD /path");
        assert!(
            ["GET", "POST", "PUT", "DELETE"].contains(&method),
            "{key}: odd method"
        );
        assert!(path.starts_with('/'), "{key}");
        assert!(
            routes.contains_key(key),
            "{key} is not in the official schema"
        );
    }
    let unique: BTreeSet<&String> = served.iter().collect();
    assert_eq!(unique.len(), served.len(), "a route is registered twice");
}

/// A call: method, concrete path, parameters.
type Call = (&'static str, String, Vec<(&'static str, String)>);

/// One call per served route, in an order that works on the homelab seed.
fn scenario() -> Vec<Call> {
    let s = |v: &str| v.to_string();
    let mut calls: Vec<Call> = vec![
        ("GET", s("/version"), vec![]),
        ("GET", s("/cluster/status"), vec![]),
        ("GET", s("/cluster/resources"), vec![]),
        ("GET", s("/cluster/resources"), vec![("type", s("vm"))]),
        ("GET", s("/cluster/nextid"), vec![]),
        ("GET", s("/nodes"), vec![]),
        ("GET", s("/nodes/pve1/status"), vec![]),
        (
            "GET",
            s("/nodes/pve1/rrddata"),
            vec![("timeframe", s("hour"))],
        ),
        ("GET", s("/nodes/pve1/network"), vec![]),
        ("GET", s("/nodes/pve1/storage"), vec![]),
        ("GET", s("/nodes/pve1/storage/local-lvm/content"), vec![]),
        (
            "GET",
            s("/nodes/pve1/storage/local/content"),
            vec![("content", s("iso"))],
        ),
        ("GET", s("/storage"), vec![]),
        ("GET", s("/storage/nas"), vec![]),
        ("GET", s("/nodes/pve2/time"), vec![]),
        ("GET", s("/pools"), vec![]),
        ("GET", s("/pools"), vec![("poolid", s("prod"))]),
        (
            "POST",
            s("/pools"),
            vec![("poolid", s("schema-test")), ("comment", s("c"))],
        ),
        (
            "PUT",
            s("/pools"),
            vec![("poolid", s("schema-test")), ("vms", s("107"))],
        ),
        ("GET", s("/pools/schema-test"), vec![]),
        (
            "PUT",
            s("/pools/schema-test"),
            vec![("vms", s("107")), ("delete", s("1"))],
        ),
        ("DELETE", s("/pools/schema-test"), vec![]),
        ("POST", s("/pools"), vec![("poolid", s("schema-test2"))]),
        ("DELETE", s("/pools"), vec![("poolid", s("schema-test2"))]),
        ("GET", s("/access/permissions"), vec![]),
        ("GET", s("/access/users/root@pam/token"), vec![]),
        ("GET", s("/access/users/root@pam/token/mpc"), vec![]),
        (
            "POST",
            s("/access/users/root@pam/token/schema"),
            vec![("privsep", s("1"))],
        ),
        (
            "POST",
            s("/access/roles"),
            vec![
                ("roleid", s("SchemaRole")),
                ("privs", s("VM.Audit,Sys.Audit")),
            ],
        ),
        ("GET", s("/access/roles/SchemaRole"), vec![]),
        (
            "PUT",
            s("/access/acl"),
            vec![
                ("path", s("/")),
                ("roles", s("SchemaRole")),
                ("tokens", s("root@pam!schema")),
            ],
        ),
        ("GET", s("/access/acl"), vec![]),
        ("DELETE", s("/access/users/root@pam/token/schema"), vec![]),
    ];
    calls.extend(backup_calls());
    for (kind, vmid, newid, node) in [("qemu", 100u32, 150u32, "pve1"), ("lxc", 200, 250, "pve1")] {
        let g = format!("/nodes/{node}/{kind}/{vmid}");
        let n = format!("/nodes/{node}/{kind}/{newid}");
        // guest agent and interfaces first: a snapshot rollback below stops the guest
        if kind == "qemu" {
            calls.extend([
                ("GET", format!("{g}/agent/network-get-interfaces"), vec![]),
                (
                    "POST",
                    format!("{g}/agent/exec"),
                    vec![("command", s("hostname"))],
                ),
                (
                    "GET",
                    format!("{g}/agent/exec-status"),
                    vec![("pid", s("1001"))],
                ),
                ("POST", format!("{g}/status/suspend"), vec![]),
                ("POST", format!("{g}/status/resume"), vec![]),
                ("POST", format!("{g}/status/reset"), vec![]),
                ("POST", format!("{g}/agent/ping"), vec![]),
                ("GET", format!("{g}/agent/get-osinfo"), vec![]),
                ("GET", format!("{g}/agent/get-host-name"), vec![]),
                // proxmox_disk (Ansible) removes a disk with unlink
                (
                    "PUT",
                    format!("{g}/config"),
                    vec![("scsi1", s("local-lvm:1"))],
                ),
                (
                    "PUT",
                    format!("{g}/unlink"),
                    vec![("idlist", s("scsi1")), ("force", s("1"))],
                ),
            ]);
        } else {
            calls.push(("GET", format!("{g}/interfaces"), vec![]));
        }
        calls.extend([
            ("GET", format!("/nodes/{node}/{kind}"), vec![]),
            ("GET", format!("{g}/config"), vec![]),
            ("GET", format!("{g}/pending"), vec![]),
            ("GET", format!("{g}/status/current"), vec![]),
            ("GET", format!("{g}/rrddata"), vec![("timeframe", s("day"))]),
            (
                "PUT",
                format!("{g}/config"),
                vec![("description", s("schema test"))],
            ),
            (
                "POST",
                format!("{g}/snapshot"),
                vec![("snapname", s("snap1"))],
            ),
            ("GET", format!("{g}/snapshot"), vec![]),
            ("POST", format!("{g}/snapshot/snap1/rollback"), vec![]),
            ("DELETE", format!("{g}/snapshot/snap1"), vec![]),
            (
                "POST",
                format!("{g}/clone"),
                vec![("newid", newid.to_string()), ("full", s("1"))],
            ),
            (
                "PUT",
                format!("{n}/resize"),
                vec![
                    ("disk", s(if kind == "qemu" { "scsi0" } else { "rootfs" })),
                    ("size", s("+1G")),
                ],
            ),
            ("POST", format!("{n}/status/start"), vec![]),
            ("POST", format!("{n}/status/reboot"), vec![]),
            ("POST", format!("{n}/status/shutdown"), vec![]),
            ("POST", format!("{n}/status/start"), vec![]),
            ("POST", format!("{n}/status/stop"), vec![]),
            ("POST", format!("{n}/migrate"), vec![("target", s("pve2"))]),
            (
                "POST",
                format!("/nodes/pve2/{kind}/{newid}/template"),
                vec![],
            ),
            ("DELETE", format!("/nodes/pve2/{kind}/{newid}"), vec![]),
        ]);
        if kind == "qemu" {
            calls.extend([
                ("POST", format!("{g}/config"), vec![("tags", s("a;b"))]),
                (
                    "POST",
                    format!("/nodes/{node}/qemu"),
                    vec![
                        ("vmid", s("160")),
                        ("name", s("new")),
                        ("memory", s("512")),
                        ("scsi0", s("local-lvm:4")),
                        ("net0", s("virtio,bridge=vmbr0")),
                    ],
                ),
            ]);
        } else {
            calls.extend([(
                "POST",
                format!("/nodes/{node}/lxc"),
                vec![
                    ("vmid", s("260")),
                    (
                        "ostemplate",
                        s("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"),
                    ),
                    ("hostname", s("ct-new")),
                    ("rootfs", s("local-lvm:4")),
                ],
            )]);
        }
    }
    calls
}

/// `remote_migrate` of the VM and the container the scenario created (160, 260; stopped) to
/// `target`, with the parameters PVE's schema defines (SCHEMA `POST
/// /nodes/{node}/qemu/{vmid}/remote_migrate`: `target-endpoint` in the `proxmox-remote` format,
/// the required `target-storage` and `target-bridge` maps, `target-vmid`, `delete`).
fn remote_migrate_calls(target: &proxmox_mpc::sim::Sim) -> Vec<Call> {
    let s = |v: &str| v.to_string();
    let url = url::Url::parse(&target.url()).expect("url");
    let endpoint = format!(
        "apitoken=PVEAPIToken={}={},host=127.0.0.1,port={},fingerprint={}",
        target.token_id(),
        target.token_secret(),
        url.port().expect("port"),
        target.fingerprint().expect("https")
    );
    [("qemu", 160u32), ("lxc", 260)]
        .into_iter()
        .map(|(kind, vmid)| {
            (
                "POST",
                format!("/nodes/pve1/{kind}/{vmid}/remote_migrate"),
                vec![
                    ("target-endpoint", endpoint.clone()),
                    ("target-storage", s("local-lvm:local-lvm")),
                    ("target-bridge", s("vmbr0")),
                    ("target-vmid", vmid.to_string()),
                    ("delete", s("1")),
                ],
            )
        })
        .collect()
}

/// The backup routes: vzdump, the seeded backup volumes (read, annotate, restore, delete),
/// scheduled jobs, the guests no job covers, and the user and group lists.
fn backup_calls() -> Vec<Call> {
    let s = |v: &str| v.to_string();
    let vm_backup = "nas:backup/vzdump-qemu-102-2026_01_01-02_00_00.vma.zst";
    let ct_backup = "nas:backup/vzdump-lxc-201-2026_01_02-03_00_00.tar.zst";
    let volume =
        |node: &str, volid: &str| format!("/nodes/{node}/storage/nas/content/{}", urlencode(volid));
    vec![
        (
            "POST",
            s("/nodes/pve1/vzdump"),
            vec![
                ("vmid", s("100")),
                ("storage", s("nas")),
                ("mode", s("snapshot")),
                ("compress", s("zstd")),
                ("notes-template", s("{{guestname}} on {{node}}")),
            ],
        ),
        (
            "GET",
            s("/nodes/pve1/storage/nas/content"),
            vec![("content", s("backup"))],
        ),
        ("GET", volume("pve2", vm_backup), vec![]),
        (
            "PUT",
            volume("pve2", vm_backup),
            vec![("notes", s("before the upgrade")), ("protected", s("0"))],
        ),
        (
            "POST",
            s("/nodes/pve1/qemu"),
            vec![
                ("vmid", s("170")),
                ("archive", s(vm_backup)),
                ("unique", s("1")),
                ("storage", s("local-lvm")),
            ],
        ),
        (
            "POST",
            s("/nodes/pve1/lxc"),
            vec![
                ("vmid", s("270")),
                ("ostemplate", s(ct_backup)),
                ("restore", s("1")),
                ("storage", s("local-lvm")),
            ],
        ),
        ("DELETE", volume("pve1", ct_backup), vec![]),
        (
            "POST",
            s("/cluster/backup"),
            vec![
                ("id", s("schema_job")),
                ("schedule", s("sun 01:00")),
                ("storage", s("nas")),
                ("vmid", s("100,101")),
                ("mode", s("snapshot")),
                ("compress", s("zstd")),
                ("prune-backups", s("keep-last=3,keep-weekly=2")),
            ],
        ),
        (
            "PUT",
            s("/cluster/backup/schema_job"),
            vec![("vmid", s("100,101,102")), ("enabled", s("1"))],
        ),
        ("GET", s("/cluster/backup/schema_job"), vec![]),
        ("GET", s("/cluster/backup"), vec![]),
        (
            "POST",
            s("/cluster/backup"),
            vec![
                ("id", s("schema_gone")),
                ("starttime", s("02:30")),
                ("dow", s("sat")),
                ("storage", s("local")),
                ("all", s("1")),
            ],
        ),
        ("DELETE", s("/cluster/backup/schema_gone"), vec![]),
        ("GET", s("/cluster/backup-info/not-backed-up"), vec![]),
        ("GET", s("/access/users"), vec![("full", s("1"))]),
        ("GET", s("/access/users/root@pam"), vec![]),
        ("GET", s("/access/groups"), vec![]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_with_data_that_matches_its_returns_schema() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    let routes = schema_routes();
    let mut problems = Vec::new();
    let mut upids = Vec::new();
    let mut write_errors = Vec::new();
    for (method, path, params) in scenario() {
        let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = api.call(method, &path, &p).await;
        if a.status != 200 {
            problems.push(format!("{method} {path}: {} {}", a.status, a.raw));
            continue;
        }
        // writes answer with what `returns` says (a UPID string, null, an object)
        if method != "GET" {
            let route = sim
                .control()
                .request_log()
                .last()
                .and_then(|e| e.route.clone());
            let route = route.expect("the call matched a route");
            validate(
                a.data(),
                &routes[&route]["returns"],
                &route,
                false,
                &mut write_errors,
            );
        }
        if let Some(upid) = a.data().as_str().filter(|s| s.starts_with("UPID:")) {
            let status = api.wait_task(upid).await;
            if status["exitstatus"] != "OK" {
                problems.push(format!(
                    "{method} {path}: task ended with {}",
                    status["exitstatus"]
                ));
            }
            upids.push(upid.to_string());
        }
    }
    // remote_migrate needs a second cluster: the guests the scenario created move to one
    let target = crate::support::sim::start(proxmox_mpc::sim::SimConfig::generated(2, 2, 7)).await;
    for (method, path, params) in remote_migrate_calls(&target) {
        let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = api.call(method, &path, &p).await;
        if a.status != 200 {
            problems.push(format!("{method} {path}: {} {}", a.status, a.raw));
            continue;
        }
        let upid = a.data().as_str().unwrap_or_default().to_string();
        let status = api.wait_task(&upid).await;
        if status["exitstatus"] != "OK" {
            problems.push(format!(
                "{method} {path}: task ended with {}",
                status["exitstatus"]
            ));
        }
    }
    // task routes, with real UPIDs
    let upid = upids.first().expect("some task ran").clone();
    let node = upid.split(':').nth(1).unwrap_or("pve1").to_string();
    for path in [
        format!("/nodes/{node}/tasks"),
        format!("/nodes/{node}/tasks/{}/status", urlencode(&upid)),
        format!("/nodes/{node}/tasks/{}/log", urlencode(&upid)),
        "/cluster/tasks".to_string(),
    ] {
        let a = api.get(&path).await;
        if a.status != 200 {
            problems.push(format!("GET {path}: {} {}", a.status, a.raw));
        }
    }
    // stopping a finished task is a no-op; the realm list needs no login
    let a = api
        .call(
            "DELETE",
            &format!("/nodes/{node}/tasks/{}", urlencode(&upid)),
            &[],
        )
        .await;
    if a.status != 200 {
        problems.push(format!("DELETE task: {}", a.raw));
    }
    let realms = Api {
        auth: String::new(),
        ..Api::new(&sim, TokenKind::Full)
    }
    .get("/access/domains")
    .await;
    if realms.status != 200 {
        problems.push(format!("GET /access/domains: {}", realms.raw));
    }
    // ticket login (API tokens may not call it)
    let (user, password) = sim.password();
    let anonymous = Api {
        auth: String::new(),
        ..Api::new(&sim, TokenKind::Full)
    };
    let a = anonymous
        .call(
            "POST",
            "/access/ticket",
            &[("username", &user), ("password", &password)],
        )
        .await;
    if a.status != 200 {
        problems.push(format!("POST /access/ticket: {}", a.raw));
    }
    assert!(
        problems.is_empty(),
        "calls failed:\n{}",
        problems.join("\n")
    );
    assert!(
        write_errors.is_empty(),
        "write answers off-schema:\n{}",
        write_errors.join("\n")
    );

    // every served route was exercised, and every answer validates against `returns`
    let log = sim.control().request_log();
    let covered: BTreeSet<String> = log.iter().filter_map(|e| e.route.clone()).collect();
    let missing: Vec<String> = served_routes()
        .into_iter()
        .filter(|r| !covered.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "routes the scenario never called: {missing:?}"
    );

    // replay the GETs to validate their bodies (writes were validated by status above)
    let mut errors = Vec::new();
    for entry in log.iter().filter(|e| e.method == "GET" && e.status == 200) {
        let route = entry.route.clone().unwrap_or_default();
        let path = entry.path.trim_start_matches("/api2/json").to_string();
        let a = api.call("GET", &path, &[]).await;
        if a.status != 200 {
            continue; // e.g. exec-status once the pid is gone; checked above
        }
        let returns = &routes[&route]["returns"];
        let loose = route.ends_with("/pending");
        validate(a.data(), returns, &route, loose, &mut errors);
    }
    assert!(
        errors.is_empty(),
        "schema violations:\n{}",
        errors.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_rejects_a_parameter_the_schema_does_not_define() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    let anonymous = Api {
        auth: String::new(),
        ..Api::new(&sim, TokenKind::Full)
    };
    for key in served_routes() {
        let (method, template) = key.split_once(' ').expect("METHOD /path");
        let path = template
            .replace("{node}", "pve1")
            .replace("{vmid}", "100")
            .replace("{storage}", "local")
            .replace("{poolid}", "prod")
            .replace("{userid}", "root@pam")
            .replace("{tokenid}", "mpc")
            .replace("{snapname}", "s1")
            .replace("{volume}", "nas%3Abackup%2Fx.vma")
            .replace("{id}", "job1")
            .replace(
                "{upid}",
                "UPID:pve1:00000001:00000001:00000001:qmstart:100:root@pam:",
            );
        // the ticket call is the one route API tokens may not use
        let caller = if key == "POST /access/ticket" || key == "GET /access/domains" {
            &anonymous
        } else {
            &api
        };
        let a = caller
            .call(method, &path, &[("definitely_not_a_pve_param", "1")])
            .await;
        assert_eq!(a.status, 400, "{key}: {}", a.raw);
        assert_eq!(
            a.body["errors"]["definitely_not_a_pve_param"],
            "property is not defined in schema and the schema does not allow additional properties",
            "{key}"
        );
        assert_eq!(a.message(), "Parameter verification failed.\n");
    }
}
