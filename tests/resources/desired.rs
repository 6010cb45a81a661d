//! The desired state read back from hand-written Terraform: variables, tfvars, locals,
//! references between resources, located errors, attributes kept and listed.

use std::path::Path;

use proxmox_mpc::iac::desired::read_desired;
use proxmox_mpc::model::{GuestConfig, GuestStatus};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const POOLS: &str = r#"
resource "proxmox_virtual_environment_pool" "prod" {
  pool_id = "prod"
  comment = "Production"
}
"#;

const VARIABLES: &str = r#"
variable "web_cores" {
  type    = number
  default = 2
}

variable "web_node" {
  type    = string
  default = "pve1"
}

variable "proxmox_api_token" {
  type      = string
  sensitive = true
}
"#;

const LOCALS: &str = r#"
locals {
  memory_mib = local.base_memory * 2
  base_memory = 1024
  tags = ["web", var.web_node]
}
"#;

const WEB: &str = r#"
import {
  to = proxmox_virtual_environment_vm.web
  id = "pve1/120"
}

resource "proxmox_virtual_environment_vm" "web" {
  node_name = var.web_node
  vm_id     = 120
  name      = "web-${var.web_node}"
  tags      = local.tags
  pool_id   = proxmox_virtual_environment_pool.prod.pool_id
  on_boot   = true
  started   = true

  cpu {
    cores = var.web_cores
  }

  memory {
    dedicated = local.memory_mib
  }

  numa {
    device    = "numa0"
    cpus      = "0-1"
    hostnodes = "0"
    memory    = 2048
    policy    = "preferred"
  }

  disk {
    interface    = "scsi0"
    datastore_id = "local-lvm"
    size         = 32
    iothread     = true
  }

  network_device {
    bridge = "vmbr0"
  }

  lifecycle {
    ignore_changes = [clone]
  }
}
"#;

const FOLLOWER: &str = r#"
resource "proxmox_virtual_environment_vm" "follower" {
  node_name = proxmox_virtual_environment_vm.web.node_name
  vm_id     = proxmox_virtual_environment_vm.web.vm_id + 1
  name      = "follower"
}
"#;

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "terraform/pools.tf", POOLS);
    write(root, "terraform/variables.tf", VARIABLES);
    write(root, "terraform/locals.tf", LOCALS);
    write(root, "terraform/web.tf", WEB);
    write(root, "terraform/follower.tf", FOLLOWER);
    dir
}

#[test]
fn variables_locals_and_references_are_evaluated() {
    let dir = workspace();
    let state = read_desired(dir.path()).expect("reads");
    assert_eq!(state.pools, vec!["prod".to_string()]);
    assert_eq!(state.pool_comments["prod"], "Production");
    assert_eq!(state.pool_idents["prod"], "prod");
    let web = state.files.iter().find(|f| f.ident == "web").unwrap();
    assert_eq!(web.path, "terraform/web.tf");
    assert_eq!(web.import_id.as_deref(), Some("pve1/120"));
    let g = &web.guest;
    assert_eq!(
        (g.vmid, g.name.as_str(), g.node.as_str()),
        (120, "web-pve1", "pve1")
    );
    assert_eq!(g.pool.as_deref(), Some("prod"));
    assert_eq!(g.tags, vec!["web".to_string(), "pve1".to_string()]);
    assert_eq!(g.status, GuestStatus::Running);
    let GuestConfig::Vm(vm) = &g.config else {
        panic!("a VM")
    };
    assert_eq!(vm.cores, Some(2));
    assert_eq!(vm.memory_mib, Some(2048));
    assert_eq!(vm.disks["scsi0"].size_bytes, Some(32 << 30));
    assert_eq!(vm.nics[&0].bridge.as_deref(), Some("vmbr0"));
    // `numa` is not modelled: kept in the file and listed.
    assert_eq!(web.unmodelled, vec!["numa".to_string()]);
    assert!(
        web.expressions.contains(&"var.web_node".to_string()),
        "{:?}",
        web.expressions
    );
    // A resource refers to another one.
    let follower = state.files.iter().find(|f| f.ident == "follower").unwrap();
    assert_eq!(follower.guest.vmid, 121);
    assert_eq!(follower.guest.node, "pve1");
    assert_eq!(follower.import_id, None);
}

#[test]
fn tfvars_override_defaults() {
    let dir = workspace();
    write(
        dir.path(),
        "terraform/terraform.tfvars",
        "web_cores = 6\nweb_node = \"pve3\"\n",
    );
    write(dir.path(), "terraform/zz.auto.tfvars", "web_cores = 8\n");
    let state = read_desired(dir.path()).expect("reads");
    let web = &state.files.iter().find(|f| f.ident == "web").unwrap().guest;
    assert_eq!(web.node, "pve3");
    assert_eq!(web.name, "web-pve3");
    let GuestConfig::Vm(vm) = &web.config else {
        panic!("a VM")
    };
    assert_eq!(
        vm.cores,
        Some(8),
        "*.auto.tfvars come after terraform.tfvars"
    );
}

#[test]
fn an_unevaluable_expression_names_file_line_and_expression() {
    let dir = workspace();
    let broken = WEB.replace("cores = var.web_cores", "cores = var.cpu_count");
    write(dir.path(), "terraform/web.tf", &broken);
    let err = read_desired(dir.path()).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    let p = &err.problems[0];
    assert!(p.path.ends_with("terraform/web.tf"), "{}", p.path.display());
    assert_eq!(p.line, Some(17));
    assert_eq!(p.expression.as_deref(), Some("var.cpu_count"));
    let text = err.to_string();
    assert!(
        text.contains("web.tf:17: cannot evaluate `var.cpu_count`"),
        "{text}"
    );

    // A function call the console does not evaluate is located the same way.
    let func = WEB.replace(
        "dedicated = local.memory_mib",
        "dedicated = max(1024, 2048)",
    );
    write(dir.path(), "terraform/web.tf", &func);
    let err = read_desired(dir.path()).unwrap_err();
    assert_eq!(err.problems[0].line, Some(21), "{err}");
    assert_eq!(
        err.problems[0].expression.as_deref(),
        Some("max(1024, 2048)")
    );

    // A local that cannot be evaluated names the locals file.
    write(dir.path(), "terraform/web.tf", WEB);
    write(
        dir.path(),
        "terraform/locals.tf",
        &LOCALS.replace("base_memory = 1024", "base_memory = var.nope"),
    );
    let err = read_desired(dir.path()).unwrap_err();
    let base = err
        .problems
        .iter()
        .find(|p| p.expression.as_deref() == Some("var.nope"))
        .unwrap_or_else(|| panic!("no problem names var.nope: {err}"));
    assert!(base.path.ends_with("terraform/locals.tf"), "{err}");
    assert_eq!(base.line, Some(4));
    // The local that depends on it is named too, with its own line.
    assert!(
        err.problems
            .iter()
            .any(|p| p.line == Some(3) && p.expression.as_deref() == Some("local.base_memory * 2")),
        "{err}"
    );
}

#[test]
fn broken_hcl_and_duplicate_vmids_are_reported_together() {
    let dir = workspace();
    write(
        dir.path(),
        "terraform/broken.tf",
        "resource \"x\" {\n  a = \n",
    );
    write(
        dir.path(),
        "terraform/copy.tf",
        &WEB.replace("\"web\"", "\"copy\"")
            .replace("vm.web\n", "vm.copy\n"),
    );
    let err = read_desired(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("broken.tf"), "{text}");
    assert!(text.contains("not valid HCL"), "{text}");
    assert!(text.contains("vmid 120 is also described by"), "{text}");
}
