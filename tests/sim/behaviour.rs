//! PVE's observable behaviour: auth, permissions, digests, locks, tasks, nextid races,
//! canonical property strings, pending changes, the guest agent and the network model.

use std::time::Duration;

use proxmox_mpc::sim::{Faults, Sim, SimConfig, TokenKind};
use serde_json::Value;

use super::common::{Api, homelab, http, install_crypto, urlencode};

const UPID_RE: &str =
    r"^UPID:[a-zA-Z0-9-]+:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:[a-z]+:[0-9]*:[^:\s]+:$";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homelab_has_three_nodes_and_about_thirty_loopback_guests() {
    let sim = homelab(true).await;
    let api = Api::new(&sim, TokenKind::Full);
    let nodes = api.get("/nodes").await;
    let names: Vec<&str> = nodes
        .data()
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|n| n["node"].as_str())
        .collect();
    assert_eq!(names, ["pve1", "pve2", "pve3"]);
    let vms = api
        .call("GET", "/cluster/resources", &[("type", "vm")])
        .await;
    let list = vms.data().as_array().expect("list");
    assert!((25..=40).contains(&list.len()), "{} guests", list.len());
    assert!(list.iter().any(|g| g["type"] == "lxc"));
    assert!(list.iter().any(|g| g["template"] == 1));
    assert!(list.iter().any(|g| g["status"] == "stopped"));
    assert!(list.iter().any(|g| g["lock"].is_string()));
    // every address is loopback
    let status = api.get("/cluster/status").await;
    for n in status
        .data()
        .as_array()
        .expect("list")
        .iter()
        .filter(|e| e["type"] == "node")
    {
        assert!(n["ip"].as_str().expect("ip").starts_with("127."), "{n}");
    }
    for g in list.iter().filter(|g| g["type"] == "qemu") {
        let cfg = api
            .get(&format!(
                "/nodes/{}/qemu/{}/config",
                g["node"].as_str().expect("node"),
                g["vmid"]
            ))
            .await;
        if let Some(ip) = cfg.data()["ipconfig0"].as_str() {
            assert!(ip.contains("ip=127."), "{ip}");
        }
    }
    // nextid is a string, as on PVE
    assert!(api.get("/cluster/nextid").await.data().is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_presents_the_certificate_whose_fingerprint_is_printed() {
    let sim = homelab(true).await;
    let pem = sim.cert_pem().expect("HTTPS has a cert");
    let fp = sim.fingerprint().expect("fingerprint");
    assert_eq!(fp.len(), 32 * 3 - 1);
    assert!(
        fp.chars()
            .all(|c| c == ':' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    );
    install_crypto();
    // trusting only this certificate works for 127.0.0.1 (SAN) ...
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("pem"))
        .build()
        .expect("client");
    let resp = client
        .get(format!("{}/api2/json/version", sim.url()))
        .header("Authorization", sim.token_header())
        .send()
        .await
        .expect("TLS handshake with the pinned cert");
    assert_eq!(resp.status(), 200);
    // every node lists the certificate it serves, as PVE's /nodes does
    let nodes: serde_json::Value = client
        .get(format!("{}/api2/json/nodes", sim.url()))
        .header("Authorization", sim.token_header())
        .send()
        .await
        .expect("nodes")
        .json()
        .await
        .expect("json");
    for node in nodes["data"].as_array().expect("node list") {
        assert_eq!(
            node["ssl_fingerprint"].as_str(),
            Some(fp.as_str()),
            "{node}"
        );
    }
    // ... and the fingerprint is SHA-256 of that certificate's DER
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).expect("der");
    let digest = <sha2::Sha256 as sha2::Digest>::digest(der.as_ref());
    let hexed: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(hexed.join(":"), fp);
    assert!(sim.token_secret().starts_with("sim-"));
    assert_eq!(
        sim.token_header(),
        format!("PVEAPIToken=root@pam!mpc={}", sim.token_secret())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_are_401_with_an_empty_body_and_unknown_routes_501() {
    let sim = homelab(false).await;
    let client = http();
    let url = format!("{}/api2/json/nodes", sim.url());
    let none = client.get(&url).send().await.expect("reply");
    assert_eq!(none.status(), 401);
    assert_eq!(none.text().await.expect("body"), "");
    let bad = client
        .get(&url)
        .header(
            "Authorization",
            "PVEAPIToken=root@pam!mpc=sim-000000000000000000000000",
        )
        .send()
        .await
        .expect("reply");
    assert_eq!(bad.status(), 401);
    let api = Api::new(&sim, TokenKind::Full);
    let a = api.get("/nodes/pve1/qemu/100/nonsense").await;
    assert_eq!(a.status, 501);
    assert_eq!(
        a.message(),
        "Method 'GET /nodes/pve1/qemu/100/nonsense' not implemented\n"
    );
    let a = api.call("PATCH", "/nodes", &[]).await;
    assert_eq!(a.status, 501);
    assert_eq!(api.get("/nodes").await.status, 200);
    // the secret never reaches the request log
    let log = sim.control().request_log();
    assert!(!log.is_empty());
    for e in &log {
        assert!(!format!("{e:?}").contains(&sim.token_secret()));
    }
    assert!(
        log.iter()
            .any(|e| e.token_id.as_deref() == Some("root@pam!mpc"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_reason_phrase_carries_the_message() {
    let sim = homelab(false).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(sim.addr())
        .await
        .expect("connect");
    let req = format!(
        "GET /api2/json/nodes/pve1/qemu/999/config HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        sim.token_header()
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = String::new();
    stream.read_to_string(&mut buf).await.expect("read");
    assert!(
        buf.starts_with(
            "HTTP/1.1 500 Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist\r\n"
        ),
        "{buf}"
    );
    assert!(buf.contains(
        "\"message\":\"Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist\\n\""
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_login_needs_csrf_for_writes() {
    let sim = homelab(false).await;
    let client = http();
    let base = format!("{}/api2/json", sim.url());
    let (user, password) = sim.password();
    let wrong = client
        .post(format!("{base}/access/ticket"))
        .form(&[("username", user.as_str()), ("password", "wrong")])
        .send()
        .await
        .expect("reply");
    assert_eq!(wrong.status(), 401);
    let ok: Value = client
        .post(format!("{base}/access/ticket"))
        .form(&[("username", user.as_str()), ("password", password.as_str())])
        .send()
        .await
        .expect("reply")
        .json()
        .await
        .expect("json");
    let ticket = ok["data"]["ticket"].as_str().expect("ticket");
    let csrf = ok["data"]["CSRFPreventionToken"].as_str().expect("csrf");
    assert!(ticket.starts_with("PVE:root@pam:"));
    let cookie = format!("PVEAuthCookie={}", urlencode(ticket));
    let read = client
        .get(format!("{base}/nodes"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("reply");
    assert_eq!(read.status(), 200);
    let url = format!("{base}/nodes/pve1/qemu/110/config");
    let no_csrf = client
        .put(&url)
        .header("Cookie", &cookie)
        .form(&[("description", "x")])
        .send()
        .await
        .expect("reply");
    assert_eq!(no_csrf.status(), 401);
    let with_csrf = client
        .put(&url)
        .header("Cookie", &cookie)
        .header("CSRFPreventionToken", csrf)
        .form(&[("description", "x")])
        .send()
        .await
        .expect("reply");
    assert_eq!(with_csrf.status(), 200);
    // the ticket endpoint refuses API tokens
    let api = Api::new(&sim, TokenKind::Full);
    let a = api
        .call(
            "POST",
            "/access/ticket",
            &[("username", "root@pam"), ("password", &password)],
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limited_tokens_get_permission_errors() {
    let sim = homelab(false).await;
    let ro = Api::new(&sim, TokenKind::ReadOnly);
    assert_eq!(ro.get("/nodes/pve1/qemu/100/config").await.status, 200);
    let a = ro
        .call("POST", "/nodes/pve1/qemu/100/status/stop", &[])
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.message(),
        "Permission check failed (/vms/100, VM.PowerMgmt)\n"
    );
    let noalloc = Api::new(&sim, TokenKind::NoAllocate);
    let a = noalloc
        .call(
            "POST",
            "/nodes/pve1/qemu",
            &[("vmid", "170"), ("name", "x")],
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.message(),
        "Permission check failed (/vms/170, VM.Allocate)\n"
    );
    // but it may change a config
    let a = noalloc
        .call(
            "PUT",
            "/nodes/pve1/qemu/110/config",
            &[("description", "ok")],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    // cloning needs VM.Allocate on the new id
    let a = noalloc
        .call("POST", "/nodes/pve1/qemu/9000/clone", &[("newid", "171")])
        .await;
    assert_eq!(
        a.message(),
        "Permission check failed (/vms/171, VM.Allocate)\n"
    );
    // /access/permissions tells each token what it holds
    let perms = noalloc.get("/access/permissions").await;
    assert!(perms.data()["/vms"].get("VM.Allocate").is_none());
    assert_eq!(perms.data()["/vms"]["VM.PowerMgmt"], 1);
    let perms = ro.get("/access/permissions").await;
    assert!(
        perms.data()["/"]
            .as_object()
            .expect("obj")
            .keys()
            .all(|k| k.ends_with(".Audit"))
    );
    let full = Api::new(&sim, TokenKind::Full);
    assert_eq!(
        full.get("/access/permissions").await.data()["/vms"]["VM.Allocate"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_digest_and_locks_are_refused_like_pve() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    let cfg = api.get("/nodes/pve1/qemu/110/config").await;
    let digest = cfg.data()["digest"].as_str().expect("digest").to_string();
    // someone changes the VM in the GUI
    sim.control()
        .set_guest_config(110, "cores", "4")
        .expect("guest exists");
    let a = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/110/config",
            &[("memory", "4096"), ("digest", &digest)],
        )
        .await;
    assert_eq!(a.status, 500);
    assert_eq!(
        a.message(),
        "checksum mismatch (file change by other user?)\n"
    );
    let fresh = api.get("/nodes/pve1/qemu/110/config").await;
    assert_eq!(fresh.data()["cores"], 4);
    let d2 = fresh.data()["digest"].as_str().expect("digest").to_string();
    assert_ne!(d2, digest);
    let a = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/110/config",
            &[("memory", "4096"), ("digest", &d2)],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    // lxc words it differently
    let ct = api.get("/nodes/pve1/lxc/200/config").await;
    let ct_digest = ct.data()["digest"].as_str().expect("digest").to_string();
    sim.control()
        .set_guest_config(200, "cores", "2")
        .expect("ct");
    let a = api
        .call(
            "PUT",
            "/nodes/pve1/lxc/200/config",
            &[("cores", "3"), ("digest", &ct_digest)],
        )
        .await;
    assert_eq!(
        a.message(),
        "detected modified configuration - file changed by other user? Try again.\n"
    );
    // a locked guest
    let a = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/105/config",
            &[("description", "x")],
        )
        .await;
    assert_eq!(a.status, 500);
    assert_eq!(a.message(), "VM is locked (backup)\n");
    // stop checks the lock inside the worker: 200 + UPID, and the task fails
    let exit = api
        .run_task("POST", "/nodes/pve1/qemu/105/status/stop", &[])
        .await;
    assert_eq!(exit, "VM is locked (backup)");
    sim.control().set_guest_lock(105, None).expect("unlock");
    assert_eq!(
        api.call(
            "PUT",
            "/nodes/pve1/qemu/105/config",
            &[("description", "x")]
        )
        .await
        .status,
        200
    );
    // no options
    let a = api.call("PUT", "/nodes/pve1/qemu/105/config", &[]).await;
    assert_eq!(a.message(), "no options specified\n");
    // not found is a 500 with PVE's text
    let a = api.get("/nodes/pve2/qemu/100/config").await;
    assert_eq!(a.status, 500);
    assert_eq!(
        a.message(),
        "Configuration file 'nodes/pve2/qemu-server/100.conf' does not exist\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_then_stop_with_exit_status_and_log() {
    install_crypto();
    let faults = Faults {
        task_duration: Duration::from_millis(300),
        ..Faults::none()
    };
    let sim = Sim::start(SimConfig::homelab().http().with_faults(faults))
        .await
        .expect("start");
    let api = Api::new(&sim, TokenKind::Full);
    let re = regex::Regex::new(UPID_RE).expect("regex");
    let a = api
        .call(
            "POST",
            "/nodes/pve2/qemu",
            &[
                ("vmid", "180"),
                ("name", "slow"),
                ("scsi0", "local-lvm:4"),
                ("net0", "virtio,bridge=vmbr0"),
            ],
        )
        .await;
    let upid = a.data().as_str().expect("UPID").to_string();
    assert!(re.is_match(&upid), "{upid}");
    assert!(upid.contains(":qmcreate:180:root@pam!mpc:"), "{upid}");
    let st = api
        .get(&format!("/nodes/pve2/tasks/{}/status", urlencode(&upid)))
        .await;
    assert_eq!(st.data()["status"], "running");
    assert!(st.data().get("exitstatus").is_none());
    // the lock is held while the task runs: a second modifying call fails
    let a = api
        .call(
            "PUT",
            "/nodes/pve2/qemu/180/config",
            &[("description", "x")],
        )
        .await;
    assert_eq!(a.message(), "VM is locked (create)\n");
    let cfg = api.get("/nodes/pve2/qemu/180/config").await;
    assert_eq!(cfg.data()["lock"], "create");
    let done = api.wait_task(&upid).await;
    assert_eq!(done["exitstatus"], "OK");
    let cfg = api.get("/nodes/pve2/qemu/180/config").await;
    assert!(cfg.data().get("lock").is_none());
    assert_eq!(cfg.data()["scsi0"], "local-lvm:vm-180-disk-0,size=4G");
    let net = cfg.data()["net0"].as_str().expect("net0");
    assert!(
        net.starts_with("virtio=BC:24:11:") && net.ends_with(",bridge=vmbr0"),
        "{net}"
    );
    let log = api
        .get(&format!("/nodes/pve2/tasks/{}/log", urlencode(&upid)))
        .await;
    let lines = log.data().as_array().expect("lines");
    assert_eq!(log.body["total"].as_u64(), Some(lines.len() as u64));
    assert_eq!(lines[0]["n"], 1);
    assert_eq!(lines.last().expect("line")["t"], "TASK OK");
    // an error PVE raises inside the worker ends the task, not the call
    let exit = api
        .run_task("POST", "/nodes/pve1/qemu/100/status/start", &[])
        .await;
    assert_eq!(exit, "VM 100 already running");
    let list = api
        .call("GET", "/nodes/pve1/tasks", &[("errors", "1")])
        .await;
    assert!(
        list.data()
            .as_array()
            .expect("list")
            .iter()
            .any(|t| t["status"] == "VM 100 already running")
    );
    // unknown and malformed UPIDs
    let a = api.get("/nodes/pve1/tasks/garbage/status").await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["errors"]["upid"], "unable to parse worker upid");
    let a = api
        .get(&format!(
            "/nodes/pve1/tasks/{}/status",
            urlencode("UPID:pve1:00000001:00000001:00000001:qmstart:100:root@pam:")
        ))
        .await;
    assert_eq!(a.body["errors"]["upid"], "no such task");
    assert!(
        api.get("/cluster/tasks")
            .await
            .data()
            .as_array()
            .expect("list")
            .len()
            >= 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nextid_is_not_reserved_so_racing_creates_conflict() {
    let sim = homelab(false).await;
    let a = Api::new(&sim, TokenKind::Full);
    let b = Api::new(&sim, TokenKind::Full);
    let id_a = a
        .get("/cluster/nextid")
        .await
        .data()
        .as_str()
        .expect("string")
        .to_string();
    let id_b = b
        .get("/cluster/nextid")
        .await
        .data()
        .as_str()
        .expect("string")
        .to_string();
    assert_eq!(id_a, id_b);
    let params_a = [("vmid", id_a.as_str()), ("name", "a")];
    let params_b = [("vmid", id_b.as_str()), ("name", "b")];
    let (ra, rb) = tokio::join!(
        a.call("POST", "/nodes/pve1/qemu", &params_a),
        b.call("POST", "/nodes/pve2/qemu", &params_b),
    );
    let statuses = [ra.status, rb.status];
    assert!(
        statuses.contains(&200) && statuses.contains(&500),
        "{statuses:?}"
    );
    let loser = if ra.status == 500 { &ra } else { &rb };
    assert!(
        loser
            .message()
            .starts_with(&format!("VM {id_a} already exists on node 'pve")),
        "{}",
        loser.raw
    );
    let taken = a.call("GET", "/cluster/nextid", &[("vmid", &id_a)]).await;
    assert_eq!(taken.status, 400);
    assert_eq!(
        taken.body["errors"]["vmid"],
        format!("VM {id_a} already exists")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_stored_in_pves_canonical_form_and_pending_on_running_guests() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    let a = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/100/config",
            &[
                ("tags", "Zeta,alpha;BETA alpha"),
                ("cores", "4"),
                ("net1", "model=e1000,bridge=vmbr1,firewall=on,tag=30"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let raw = sim.control().guest_config(100).expect("guest");
    assert_eq!(raw["tags"], "alpha;beta;zeta");
    let net1 = &raw["net1"];
    assert!(
        net1.starts_with("e1000=BC:24:11:") && net1.ends_with(",bridge=vmbr1,firewall=1,tag=30"),
        "{net1}"
    );
    // cores cannot change on a running VM: it waits in [PENDING]
    assert_eq!(raw["cores"], "2");
    let pending = api.get("/nodes/pve1/qemu/100/pending").await;
    let cores = pending
        .data()
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["key"] == "cores")
        .expect("cores")
        .clone();
    assert_eq!(cores["value"], 2);
    assert_eq!(cores["pending"], 4);
    assert_eq!(
        api.get("/nodes/pve1/qemu/100/config").await.data()["cores"],
        4
    );
    assert_eq!(
        api.call("GET", "/nodes/pve1/qemu/100/config", &[("current", "1")])
            .await
            .data()["cores"],
        2
    );
    // a restart applies it
    assert_eq!(
        api.run_task("POST", "/nodes/pve1/qemu/100/status/stop", &[])
            .await,
        "OK"
    );
    assert_eq!(
        api.run_task("POST", "/nodes/pve1/qemu/100/status/start", &[])
            .await,
        "OK"
    );
    assert_eq!(
        sim.control().guest_config(100).expect("guest")["cores"],
        "4"
    );
    // delete
    let a = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/100/config",
            &[("delete", "net1,tags")],
        )
        .await;
    assert_eq!(a.status, 200);
    let raw = sim.control().guest_config(100).expect("guest");
    assert!(!raw.contains_key("net1") && !raw.contains_key("tags"));
    // lxc features are sorted key=value
    api.call(
        "PUT",
        "/nodes/pve1/lxc/203/config",
        &[("features", "nesting=1,keyctl=1")],
    )
    .await;
    assert_eq!(
        sim.control().guest_config(203).expect("ct")["features"],
        "keyctl=1,nesting=1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_agent_answers_from_the_network_model() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    let a = api
        .get("/nodes/pve1/qemu/100/agent/network-get-interfaces")
        .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let ifaces = a.data()["result"].as_array().expect("result");
    let eth0 = ifaces.iter().find(|i| i["name"] == "eth0").expect("eth0");
    let ip = eth0["ip-addresses"][0]["ip-address"].as_str().expect("ip");
    assert!(ip.starts_with("127."), "{ip}");
    let a = api
        .get("/nodes/pve3/qemu/104/agent/network-get-interfaces")
        .await;
    assert_eq!(a.message(), "No QEMU guest agent configured\n");
    let a = api
        .get("/nodes/pve3/qemu/103/agent/network-get-interfaces")
        .await;
    assert_eq!(a.status, 500);
    // 107 and 108 share vmbr1 VLAN 30; 109 is on VLAN 40
    let ip108 = api
        .get("/nodes/pve3/qemu/108/agent/network-get-interfaces")
        .await
        .data()["result"][1]["ip-addresses"][0]["ip-address"]
        .as_str()
        .expect("ip")
        .to_string();
    let ip109 = api
        .get("/nodes/pve1/qemu/109/agent/network-get-interfaces")
        .await
        .data()["result"][1]["ip-addresses"][0]["ip-address"]
        .as_str()
        .expect("ip")
        .to_string();
    for (target, expected) in [(ip108, 0), (ip109, 1)] {
        let cmd = format!("ping -c 1 {target}");
        let a = api
            .call(
                "POST",
                "/nodes/pve3/qemu/107/agent/exec",
                &[("command", &cmd)],
            )
            .await;
        let pid = a.data()["pid"].to_string();
        let st = api
            .call(
                "GET",
                "/nodes/pve3/qemu/107/agent/exec-status",
                &[("pid", &pid)],
            )
            .await;
        assert_eq!(st.data()["exited"], 1);
        assert_eq!(st.data()["exitcode"], expected, "ping {target}: {}", st.raw);
    }
    let a = api.get("/nodes/pve1/lxc/200/interfaces").await;
    assert!(
        a.data()
            .as_array()
            .expect("list")
            .iter()
            .any(|i| i["inet"].as_str().is_some_and(|s| s.starts_with("127.")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_fills_up_and_the_create_task_fails() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    let st = api
        .call("GET", "/nodes/pve3/storage", &[("storage", "small")])
        .await;
    let avail = st.data()[0]["avail"].as_u64().expect("avail");
    assert!(avail < 25 << 30, "small has {avail} bytes free");
    let exit = api
        .run_task(
            "POST",
            "/nodes/pve3/qemu",
            &[("vmid", "190"), ("scsi0", "small:50")],
        )
        .await;
    assert!(exit.contains("storage 'small' is full"), "{exit}");
    assert!(
        sim.control().guest_config(190).is_none(),
        "a failed create leaves nothing"
    );
    let exit = api
        .run_task(
            "POST",
            "/nodes/pve3/qemu",
            &[("vmid", "190"), ("scsi0", "small:5")],
        )
        .await;
    assert_eq!(exit, "OK");
    let a = api
        .call(
            "POST",
            "/nodes/pve1/qemu",
            &[("vmid", "191"), ("scsi0", "small:5")],
        )
        .await;
    assert_eq!(
        a.message(),
        "storage 'small' is not available on node 'pve1'\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_group_guests() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    assert_eq!(
        api.call("POST", "/pools", &[("poolid", "t1"), ("comment", "test")])
            .await
            .status,
        200
    );
    let dup = api.call("POST", "/pools", &[("poolid", "t1")]).await;
    assert_eq!(dup.message(), "pool 't1' already exists\n");
    let moved = api
        .call("PUT", "/pools", &[("poolid", "t1"), ("vms", "100")])
        .await;
    assert_eq!(moved.status, 500, "100 is in 'prod' already");
    assert_eq!(
        api.call(
            "PUT",
            "/pools",
            &[("poolid", "t1"), ("vms", "100"), ("allow-move", "1")]
        )
        .await
        .status,
        200
    );
    let p = api.call("GET", "/pools", &[("poolid", "t1")]).await;
    assert_eq!(p.data()[0]["members"][0]["vmid"], 100);
    let r = api
        .call("GET", "/cluster/resources", &[("type", "vm")])
        .await;
    let g100 = r
        .data()
        .as_array()
        .expect("list")
        .iter()
        .find(|g| g["vmid"] == 100)
        .expect("100")
        .clone();
    assert_eq!(g100["pool"], "t1");
    assert_eq!(
        api.call("DELETE", "/pools", &[("poolid", "t1")])
            .await
            .message(),
        "pool 't1' is not empty\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_gzipped_when_the_client_accepts_it() {
    let sim = homelab(false).await;
    let raw_client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let url = format!("{}/api2/json/cluster/resources", sim.url());
    let plain = raw_client
        .get(&url)
        .header("Authorization", sim.token_header())
        .send()
        .await
        .expect("reply");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.expect("body").len();
    assert!(plain_len > 1024);
    let zipped = raw_client
        .get(&url)
        .header("Authorization", sim.token_header())
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("reply");
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let zipped_len = zipped.bytes().await.expect("body").len();
    assert!(zipped_len < plain_len, "{zipped_len} >= {plain_len}");
    // a decoding client sees the same JSON
    let api = Api::new(&sim, TokenKind::Full);
    assert!(
        api.get("/cluster/resources")
            .await
            .data()
            .as_array()
            .expect("list")
            .len()
            > 30
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_tasks_hold_the_guest() {
    install_crypto();
    let faults = Faults {
        task_duration: Duration::from_millis(400),
        ..Faults::none()
    };
    let sim = Sim::start(SimConfig::homelab().http().with_faults(faults))
        .await
        .expect("start");
    let api = Api::new(&sim, TokenKind::Full);
    // migrate sets lock=migrate while it runs
    let a = api
        .call(
            "POST",
            "/nodes/pve1/qemu/110/migrate",
            &[("target", "pve2"), ("online", "1")],
        )
        .await;
    let upid = a.data().as_str().expect("UPID").to_string();
    let busy = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/110/config",
            &[("description", "x")],
        )
        .await;
    assert_eq!(busy.message(), "VM is locked (migrate)\n");
    assert_eq!(api.wait_task(&upid).await["exitstatus"], "OK");
    assert_eq!(sim.control().guest_node(110).as_deref(), Some("pve2"));
    assert!(
        !sim.control()
            .guest_config(110)
            .expect("guest")
            .contains_key("lock")
    );
    // a power task holds the config file: a concurrent change times out on the file lock
    let a = api
        .call("POST", "/nodes/pve1/qemu/100/status/shutdown", &[])
        .await;
    let upid = a.data().as_str().expect("UPID").to_string();
    let busy = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/100/config",
            &[("description", "x")],
        )
        .await;
    assert_eq!(
        busy.message(),
        "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout\n"
    );
    assert_eq!(api.wait_task(&upid).await["exitstatus"], "OK");
    assert_eq!(
        api.call(
            "PUT",
            "/nodes/pve1/qemu/100/config",
            &[("description", "x")]
        )
        .await
        .status,
        200
    );
    // container NICs and mount points: required keys right after the value, then sorted
    api.call(
        "PUT",
        "/nodes/pve1/lxc/203/config",
        &[
            ("net1", "bridge=vmbr1,name=eth1,ip=dhcp"),
            ("mp0", "local-lvm:2,size=2G,backup=1,mp=/data"),
        ],
    )
    .await;
    let raw = sim.control().guest_config(203).expect("ct");
    assert!(
        raw["net1"].starts_with("name=eth1,bridge=vmbr1,hwaddr=BC:24:11:"),
        "{}",
        raw["net1"]
    );
    assert!(
        raw["net1"].ends_with(",ip=dhcp,type=veth"),
        "{}",
        raw["net1"]
    );
    assert_eq!(
        raw["mp0"],
        "local-lvm:vm-203-disk-1,mp=/data,backup=1,size=2G"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_task_never_does_its_work() {
    install_crypto();
    let faults = Faults {
        task_duration: Duration::from_millis(300),
        ..Faults::none()
    };
    let sim = Sim::start(SimConfig::homelab().http().with_faults(faults))
        .await
        .expect("start");
    let api = Api::new(&sim, TokenKind::Full);
    let a = api
        .call("POST", "/nodes/pve1/qemu/100/status/stop", &[])
        .await;
    let upid = a.data().as_str().expect("UPID").to_string();
    let d = api
        .call(
            "DELETE",
            &format!("/nodes/pve1/tasks/{}", urlencode(&upid)),
            &[],
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.raw);
    let st = api.wait_task(&upid).await;
    assert_eq!(st["exitstatus"], "interrupted by signal");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        sim.control().guest_running(100),
        Some(true),
        "the stop never happened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_init_password_is_stored_hashed_and_never_returned() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    let a = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/100/config",
            &[("cipassword", "hunter2-sim")],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let raw = sim.control().guest_config(100).expect("guest");
    assert!(!raw["cipassword"].contains("hunter2"), "stored as a hash");
    let cfg = api.get("/nodes/pve1/qemu/100/config").await;
    assert_eq!(cfg.data()["cipassword"], "**********");
}

async fn status_of_100(api: &Api) -> Value {
    api.get("/nodes/pve1/qemu/100/status/current")
        .await
        .data()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_resume_and_hibernate() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    assert_eq!(
        api.run_task("POST", "/nodes/pve1/qemu/100/status/suspend", &[])
            .await,
        "OK"
    );
    let st = status_of_100(&api).await;
    assert_eq!(
        (st["status"].as_str(), st["qmpstatus"].as_str()),
        (Some("running"), Some("paused"))
    );
    assert_eq!(
        api.run_task("POST", "/nodes/pve1/qemu/100/status/resume", &[])
            .await,
        "OK"
    );
    assert_eq!(status_of_100(&api).await["qmpstatus"], "running");
    // hibernate: stopped, locked 'suspended' until started again
    assert_eq!(
        api.run_task(
            "POST",
            "/nodes/pve1/qemu/100/status/suspend",
            &[("todisk", "1")]
        )
        .await,
        "OK"
    );
    let st = status_of_100(&api).await;
    assert_eq!(
        (st["status"].as_str(), st["lock"].as_str()),
        (Some("stopped"), Some("suspended"))
    );
    let a = api
        .call(
            "PUT",
            "/nodes/pve1/qemu/100/config",
            &[("description", "x")],
        )
        .await;
    assert_eq!(a.message(), "VM is locked (suspended)\n");
    assert_eq!(
        api.run_task("POST", "/nodes/pve1/qemu/100/status/start", &[])
            .await,
        "OK"
    );
    let st = status_of_100(&api).await;
    assert_eq!(st["status"], "running");
    assert!(st.get("lock").is_none());
    // reset needs a running VM; the error ends the task
    assert_eq!(
        api.run_task("POST", "/nodes/pve3/qemu/103/status/reset", &[])
            .await,
        "VM 103 not running"
    );
}
