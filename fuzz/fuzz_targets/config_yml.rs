//! Any config.yml text is read or refused with a message, never a panic; what is read renders
//! and reads back equal.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use proxmox_mpc::workspace::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text, Path::new("config.yml")) {
        let again = Config::parse(&config.render(), Path::new("config.yml"))
            .expect("a rendered config reads back");
        assert_eq!(again, config);
    }
});
