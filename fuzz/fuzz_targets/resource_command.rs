//! Any line typed at the console is parsed into a command or a located error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = proxmox_mpc::lang::parse_syntax(line);
    }
});
