//! The serde shapes of the bpg/proxmox resources: one struct per resource and per block, with
//! the attribute names bpg uses. Blocks are lists (bpg's SDK blocks are all lists), empty when
//! absent; every field defaults so a file may leave any of them out.

use serde::{Deserialize, Serialize};

/// `proxmox_virtual_environment_vm` attributes and blocks the console writes. Blocks are lists
/// (bpg's SDK blocks are all lists), empty when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VmView {
    pub node_name: String,
    pub vm_id: u32,
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub pool_id: Option<String>,
    pub on_boot: bool,
    pub started: Option<bool>,
    pub template: Option<bool>,
    pub bios: Option<String>,
    pub machine: Option<String>,
    pub scsi_hardware: Option<String>,
    pub boot_order: Option<Vec<String>>,
    pub acpi: Option<bool>,
    pub kvm_arguments: Option<String>,
    pub keyboard_layout: Option<String>,
    pub tablet_device: Option<bool>,
    pub protection: Option<bool>,
    pub hook_script_file_id: Option<String>,
    pub startup: Vec<StartupView>,
    pub cpu: Vec<CpuView>,
    pub memory: Vec<MemoryView>,
    pub agent: Vec<AgentView>,
    pub operating_system: Vec<OsView>,
    pub disk: Vec<DiskView>,
    pub cdrom: Vec<CdromView>,
    pub efi_disk: Vec<EfiView>,
    pub tpm_state: Vec<TpmView>,
    pub network_device: Vec<NetView>,
    pub initialization: Vec<InitView>,
    pub serial_device: Vec<SerialView>,
    pub hostpci: Vec<HostPciView>,
    pub usb: Vec<UsbView>,
    pub rng: Vec<RngView>,
    pub watchdog: Vec<WatchdogView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartupView {
    pub order: Option<i64>,
    pub up_delay: Option<i64>,
    pub down_delay: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostPciView {
    pub device: String,
    pub id: Option<String>,
    pub mapping: Option<String>,
    pub pcie: Option<bool>,
    pub rombar: Option<bool>,
    pub rom_file: Option<String>,
    pub xvga: Option<bool>,
    pub mdev: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsbView {
    pub host: Option<String>,
    pub mapping: Option<String>,
    pub usb3: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RngView {
    pub source: String,
    pub max_bytes: Option<u64>,
    pub period: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WatchdogView {
    pub enabled: bool,
    pub model: Option<String>,
    pub action: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpeedView {
    pub iops_read: Option<u64>,
    pub iops_read_burstable: Option<u64>,
    pub iops_write: Option<u64>,
    pub iops_write_burstable: Option<u64>,
    pub read: Option<u64>,
    pub read_burstable: Option<u64>,
    pub write: Option<u64>,
    pub write_burstable: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleView {
    pub enabled: Option<bool>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub tty_count: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceView {
    pub path: String,
    pub mode: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub deny_write: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuView {
    pub cores: Option<u32>,
    pub sockets: Option<u32>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub flags: Vec<String>,
    pub architecture: Option<String>,
    pub hotplugged: Option<u32>,
    pub limit: Option<f64>,
    pub units: Option<u32>,
    pub numa: Option<bool>,
    pub affinity: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryView {
    pub dedicated: Option<u64>,
    pub floating: Option<u64>,
    pub swap: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentView {
    pub enabled: bool,
    pub trim: Option<bool>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OsView {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub template_file_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskView {
    pub interface: String,
    pub datastore_id: String,
    pub path_in_datastore: Option<String>,
    pub file_format: Option<String>,
    pub size: Option<u64>,
    pub aio: Option<String>,
    pub backup: Option<bool>,
    pub cache: Option<String>,
    pub discard: Option<String>,
    pub iothread: Option<bool>,
    pub replicate: Option<bool>,
    pub serial: Option<String>,
    pub ssd: Option<bool>,
    pub speed: Vec<SpeedView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CdromView {
    pub interface: String,
    pub file_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EfiView {
    pub datastore_id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub pre_enrolled_keys: Option<bool>,
    pub file_format: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TpmView {
    pub datastore_id: String,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetView {
    pub model: Option<String>,
    pub bridge: Option<String>,
    pub mac_address: Option<String>,
    pub vlan_id: Option<u16>,
    pub firewall: Option<bool>,
    pub disconnected: Option<bool>,
    pub mtu: Option<u32>,
    pub queues: Option<u32>,
    pub rate_limit: Option<f64>,
    pub trunks: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InitView {
    pub datastore_id: Option<String>,
    pub interface: Option<String>,
    pub hostname: Option<String>,
    pub dns: Vec<DnsView>,
    pub ip_config: Vec<IpConfigView>,
    pub user_account: Vec<UserView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsView {
    pub domain: Option<String>,
    pub servers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IpConfigView {
    pub ipv4: Vec<AddressView>,
    pub ipv6: Vec<AddressView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddressView {
    pub address: Option<String>,
    pub gateway: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserView {
    pub username: Option<String>,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SerialView {
    pub device: String,
}

/// `proxmox_virtual_environment_container` attributes and blocks the console writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CtView {
    pub node_name: String,
    pub vm_id: u32,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub pool_id: Option<String>,
    pub start_on_boot: bool,
    pub started: Option<bool>,
    pub template: Option<bool>,
    pub unprivileged: bool,
    pub protection: Option<bool>,
    pub hook_script_file_id: Option<String>,
    pub console: Vec<ConsoleView>,
    pub startup: Vec<StartupView>,
    pub cpu: Vec<CpuView>,
    pub memory: Vec<MemoryView>,
    pub disk: Vec<RootDiskView>,
    pub mount_point: Vec<MountView>,
    pub network_interface: Vec<CtNetView>,
    pub initialization: Vec<InitView>,
    pub features: Vec<FeaturesView>,
    pub device_passthrough: Vec<DeviceView>,
    pub operating_system: Vec<OsView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RootDiskView {
    pub datastore_id: String,
    pub size: Option<u64>,
    pub acl: Option<bool>,
    pub quota: Option<bool>,
    pub replicate: Option<bool>,
    pub mount_options: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountView {
    pub volume: String,
    pub path: String,
    pub size: Option<String>,
    pub acl: Option<bool>,
    pub backup: Option<bool>,
    pub quota: Option<bool>,
    pub read_only: Option<bool>,
    pub replicate: Option<bool>,
    pub shared: Option<bool>,
    pub mount_options: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CtNetView {
    pub name: String,
    pub bridge: Option<String>,
    pub mac_address: Option<String>,
    pub vlan_id: Option<u16>,
    pub firewall: Option<bool>,
    pub mtu: Option<u32>,
    pub rate_limit: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeaturesView {
    pub nesting: Option<bool>,
    pub keyctl: Option<bool>,
    pub fuse: Option<bool>,
    pub mknod: Option<bool>,
    pub mount: Vec<String>,
}
