//! Plain Rust types for the infrastructure: nodes, guests (VMs and containers), disks keyed by
//! slot, NICs keyed by index, storages, networks and pools. Knows nothing of HTTP, SQL, HCL or the
//! terminal.
