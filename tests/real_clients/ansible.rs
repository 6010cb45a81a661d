//! Ansible's community.proxmox collection (1.4, bundled with ansible 12.3) against the simulator:
//! the `proxmox` inventory plugin lists the homelab with the groups a user relies on, and a
//! playbook creates and removes a VM with `proxmox_kvm`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::common::{SimUnderTest, Venv, ansible_file, python_fixture};

/// Groups (name -> hosts) in `ansible-inventory --list` output, leaving out `all`/`ungrouped`
/// and groups without hosts (the listing omits those anyway).
fn groups_of(listing: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut groups = BTreeMap::new();
    for (name, body) in listing.as_object().expect("the listing is a JSON object") {
        if name == "_meta" || name == "all" || name == "ungrouped" {
            continue;
        }
        let hosts: BTreeSet<String> = body["hosts"]
            .as_array()
            .map(|hosts| {
                hosts
                    .iter()
                    .map(|h| h.as_str().expect("host names are strings").to_string())
                    .collect()
            })
            .unwrap_or_default();
        if !hosts.is_empty() {
            groups.insert(name.clone(), hosts);
        }
    }
    groups
}

/// ansible-inventory marks values that came from the API as unsafe (not to be templated) and
/// prints them as `{"__ansible_unsafe": value}`; returns the plain value.
fn plain(value: &Value) -> &Value {
    value.get("__ansible_unsafe").unwrap_or(value)
}

/// The non-loopback addresses the plugin found in a guest: from the QEMU guest agent
/// (`proxmox_agent_interfaces`) or from a running container (`proxmox_lxc_interfaces`).
fn guest_ips(vars: &Value) -> Vec<String> {
    let mut ips = Vec::new();
    for iface in vars["proxmox_agent_interfaces"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if plain(&iface["name"]) == "lo" {
            continue;
        }
        for ip in iface["ip-addresses"].as_array().into_iter().flatten() {
            ips.extend(plain(ip).as_str().map(str::to_string));
        }
    }
    for iface in vars["proxmox_lxc_interfaces"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if plain(&iface["name"]) == "lo" {
            continue;
        }
        ips.extend(plain(&iface["inet"]).as_str().map(str::to_string));
    }
    ips
}

fn expected_groups(expected: &Value) -> BTreeMap<String, BTreeSet<String>> {
    expected["groups"]
        .as_object()
        .expect("expected_homelab_groups.json has a `groups` object")
        .iter()
        .map(|(name, hosts)| {
            let hosts = hosts
                .as_array()
                .expect("each expected group is a list of hosts")
                .iter()
                .map(|h| h.as_str().expect("host names are strings").to_string())
                .collect();
            (name.clone(), hosts)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_plugin_lists_every_homelab_guest_in_the_expected_groups() {
    let sut = list_and_check_inventory(false).await;
    sut.assert_all_requests_authenticated("ansible-inventory");
    sut.assert_ansible_left_home_alone();
    sut.stop().await;
}

/// The plugin's other login: a password, then the ticket as a cookie on every GET.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_plugin_logs_in_with_a_password_and_lists_the_same_groups() {
    let sut = list_and_check_inventory(true).await;
    let log = sut.control().request_log();
    let logins = log
        .iter()
        .filter(|e| e.route.as_deref() == Some("POST /access/ticket"))
        .count();
    assert_eq!(logins, 1, "the plugin logs in once");
    for entry in &log {
        assert!(entry.status < 400, "request failed: {entry:?}");
        assert!(
            entry.token_id.is_none(),
            "a ticket session used a token: {entry:?}"
        );
    }
    sut.assert_ansible_left_home_alone();
    sut.stop().await;
}

/// Runs `ansible-inventory --list` on the homelab and checks groups and facts against
/// tests/python/expected_homelab_groups.json.
async fn list_and_check_inventory(password: bool) -> SimUnderTest {
    let venv = Venv::find();
    let collection = venv.community_proxmox_version();
    assert!(
        collection.starts_with("1.4."),
        "expected_homelab_groups.json was derived from community.proxmox 1.4's plugin, but \
         {collection} is installed: re-derive the map from that version's grouping rules"
    );
    let sut = SimUnderTest::homelab().await;
    let mut cmd = sut.ansible(&venv, "ansible-inventory");
    if password {
        let (user, password) = sut.sim.password();
        cmd.env_remove("PROXMOX_TOKEN_ID")
            .env_remove("PROXMOX_TOKEN_SECRET")
            .env("PROXMOX_USER", user)
            .env("PROXMOX_PASSWORD", password);
    }
    cmd.arg("-i")
        .arg(ansible_file("homelab.proxmox.yml"))
        .arg("--list");
    let (output, took) = sut.run(cmd, "ansible-inventory --list").await;
    eprintln!("ansible-inventory (password: {password}) took {took:?}");
    let listing: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "ansible-inventory printed no JSON ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });

    let expected = python_fixture("expected_homelab_groups.json");
    let want = expected_groups(&expected);
    let got = groups_of(&listing);
    let missing: Vec<_> = want.keys().filter(|g| !got.contains_key(*g)).collect();
    let extra: Vec<_> = got.keys().filter(|g| !want.contains_key(*g)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "groups missing from the plugin's output: {missing:?}; groups not expected: {extra:?}"
    );
    for (group, hosts) in &want {
        assert_eq!(&got[group], hosts, "hosts of group {group}");
    }

    // Each guest host carries the facts the plugin derives from the API.
    let hostvars = &listing["_meta"]["hostvars"];
    for (name, facts) in expected["hosts"]
        .as_object()
        .expect("expected_homelab_groups.json has a `hosts` object")
    {
        let vars = &hostvars[name];
        assert!(
            vars.is_object(),
            "host {name} has no variables in the listing"
        );
        assert_eq!(
            plain(&vars["proxmox_vmid"]),
            &facts["vmid"],
            "proxmox_vmid of {name}"
        );
        assert_eq!(
            plain(&vars["proxmox_node"]),
            &facts["node"],
            "proxmox_node of {name}"
        );
        assert_eq!(
            plain(&vars["proxmox_vmtype"]),
            &facts["type"],
            "proxmox_vmtype of {name}"
        );
        assert_eq!(
            plain(&vars["proxmox_status"]),
            &facts["status"],
            "proxmox_status of {name}"
        );
        assert_eq!(
            guest_ips(vars),
            facts["guest_ip"]
                .as_str()
                .map(|ip| vec![ip.to_string()])
                .unwrap_or_default(),
            "eth0 address of {name} (agent or container interfaces)"
        );
        assert_eq!(
            vars.get("proxmox_lock").map(plain),
            facts.get("lock"),
            "proxmox_lock of {name}"
        );
    }

    // Listing an inventory never changes the cluster (a login is not a change).
    assert_eq!(
        sut.control().write_count(),
        0,
        "the inventory plugin wrote to the cluster"
    );
    sut
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmox_kvm_playbook_creates_and_removes_a_vm() {
    let venv = Venv::find();
    let sut = SimUnderTest::homelab().await;
    let control = sut.control();
    let guests_before = control.guest_count();

    let mut cmd = sut.ansible(&venv, "ansible-playbook");
    cmd.arg("-i")
        .arg("localhost,")
        .arg("-e")
        .arg("vm_name=ansible-kvm vm_node=pve2")
        .arg(ansible_file("create_remove_vm.yml"));
    let (output, took) = sut.run(cmd, "ansible-playbook create_remove_vm.yml").await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("ansible-playbook took {took:?}");
    assert!(
        stdout.contains("ok=") && stdout.contains("failed=0"),
        "the play recap shows no failure: {stdout}"
    );

    assert_eq!(
        control.guest_count(),
        guests_before,
        "the VM was not removed"
    );
    let routes = control.route_counts();
    let count = |route: &str| routes.get(route).copied().unwrap_or(0);
    assert_eq!(
        count("POST /nodes/{node}/qemu"),
        1,
        "one create: {routes:?}"
    );
    assert_eq!(
        count("POST /nodes/{node}/qemu/{vmid}/status/start"),
        1,
        "one start (the second `started` is a no-op): {routes:?}"
    );
    assert_eq!(
        count("POST /nodes/{node}/qemu/{vmid}/status/shutdown"),
        1,
        "one shutdown: {routes:?}"
    );
    assert_eq!(
        count("DELETE /nodes/{node}/qemu/{vmid}"),
        1,
        "one destroy: {routes:?}"
    );
    sut.assert_all_requests_authenticated("ansible-playbook");
    sut.assert_ansible_left_home_alone();
    sut.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_snapshot_playbook_clones_a_template_and_rolls_back_a_change() {
    let venv = Venv::find();
    let sut = SimUnderTest::homelab().await;
    let control = sut.control();
    let guests_before = control.guest_count();
    let template_before = control.guest_config(9000);
    assert!(
        template_before
            .as_ref()
            .is_some_and(|c| c.get("name").map(String::as_str) == Some("debian-12-cloudinit")),
        "the homelab seed has template 9000 debian-12-cloudinit: {template_before:?}"
    );

    let mut cmd = sut.ansible(&venv, "ansible-playbook");
    cmd.arg("-i")
        .arg("localhost,")
        .arg("-e")
        .arg("template_name=debian-12-cloudinit clone_name=ansible-clone clone_node=pve1")
        .arg(ansible_file("clone_snapshot.yml"));
    let (output, took) = sut.run(cmd, "ansible-playbook clone_snapshot.yml").await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("ansible-playbook clone_snapshot.yml took {took:?}");
    assert!(
        stdout.contains("failed=0"),
        "the play recap shows no failure: {stdout}"
    );

    assert_eq!(
        control.guest_count(),
        guests_before,
        "the clone was not removed"
    );
    assert_eq!(
        control.guest_config(9000),
        template_before,
        "cloning changed the template"
    );
    let routes = control.route_counts();
    let count = |route: &str| routes.get(route).copied().unwrap_or(0);
    for (route, n) in [
        ("POST /nodes/{node}/qemu/{vmid}/clone", 1),
        ("POST /nodes/{node}/qemu/{vmid}/snapshot", 1),
        (
            "POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
            1,
        ),
        ("DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}", 1),
        ("PUT /nodes/{node}/qemu/{vmid}/config", 1),
        ("DELETE /nodes/{node}/qemu/{vmid}", 1),
    ] {
        assert_eq!(count(route), n, "{route}: {routes:?}");
    }
    sut.assert_all_requests_authenticated("ansible-playbook clone_snapshot.yml");
    sut.assert_ansible_left_home_alone();
    sut.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_and_nic_playbook_changes_a_stopped_vm_and_leaves_it_as_it_was() {
    let venv = Venv::find();
    let sut = SimUnderTest::homelab().await;
    let control = sut.control();
    // lab-02 (111) is stopped in the homelab seed, so disk and NIC changes apply at once
    let vmid = 111;
    assert_eq!(
        control.guest_running(vmid),
        Some(false),
        "VM {vmid} is stopped"
    );
    let before = control.guest_config(vmid);

    let mut cmd = sut.ansible(&venv, "ansible-playbook");
    cmd.arg("-i")
        .arg("localhost,")
        .arg("-e")
        .arg(format!("vmid={vmid}"))
        .arg(ansible_file("disk_nic.yml"));
    let (output, took) = sut.run(cmd, "ansible-playbook disk_nic.yml").await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("ansible-playbook disk_nic.yml took {took:?}");
    assert!(
        stdout.contains("failed=0"),
        "the play recap shows no failure: {stdout}"
    );

    let after = control.guest_config(vmid);
    let without_digest = |c: &Option<std::collections::BTreeMap<String, String>>| {
        c.clone().map(|mut c| {
            c.remove("digest");
            c
        })
    };
    assert_eq!(
        without_digest(&after),
        without_digest(&before),
        "adding and removing a disk and a NIC left VM {vmid} changed"
    );
    let routes = control.route_counts();
    let count = |route: &str| routes.get(route).copied().unwrap_or(0);
    assert_eq!(
        count("PUT /nodes/{node}/qemu/{vmid}/unlink"),
        1,
        "{routes:?}"
    );
    assert_eq!(
        count("PUT /nodes/{node}/qemu/{vmid}/resize"),
        1,
        "{routes:?}"
    );
    sut.assert_all_requests_authenticated("ansible-playbook disk_nic.yml");
    sut.assert_ansible_left_home_alone();
    sut.stop().await;
}
