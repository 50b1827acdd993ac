//! The Alertmanager-compatible parsers of the notify crate on arbitrary text: matchers (the
//! `matchers:` string syntax and `{...}` lists), durations, and whole pasted configurations.
//! Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notify::{AlertmanagerConfig, Matcher, Matchers};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Matcher::parse(text);
    let _ = Matchers::parse(text);
    let _ = notify::parse_duration(text);
    let _ = AlertmanagerConfig::from_yaml_str(text);
});
