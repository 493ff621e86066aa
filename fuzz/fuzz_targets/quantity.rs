//! Quantity parser: never panics on any string; whatever parses formats
//! back to a quantity that parses to the same byte count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealinit::core::contract::quantity;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bytes) = quantity::parse(s) {
        let text = quantity::format(bytes);
        assert_eq!(quantity::parse(&text), Ok(bytes), "{s:?} -> {bytes} -> {text:?}");
    }
    // format itself on the raw bytes as a number.
    if data.len() >= 8 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[..8]);
        let n = u64::from_le_bytes(b);
        assert_eq!(quantity::parse(&quantity::format(n)), Ok(n), "{n}");
    }
});
