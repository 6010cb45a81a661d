//! Any PVE property string (as the server sends it) parses or is refused, and what parses
//! formats to a string that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxmox_mpc::model::propstring::PropertyString;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = PropertyString::parse(text) {
        let again = PropertyString::parse(&parsed.format()).expect("formatted text parses");
        assert_eq!(again.format(), parsed.format());
    }
    let _ = proxmox_mpc::model::propstring::parse_size(text);
});
