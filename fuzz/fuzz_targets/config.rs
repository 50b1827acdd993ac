//! The configuration loader on arbitrary text: it must never panic, and every diagnostic
//! must be one non-empty line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(diagnostics) = spec::load_str("fuzz.yaml", text) {
        assert!(!diagnostics.is_empty());
        for d in diagnostics {
            let line = d.to_string();
            assert!(!d.message.is_empty() && !line.contains('\n'), "{line}");
        }
    }
});
