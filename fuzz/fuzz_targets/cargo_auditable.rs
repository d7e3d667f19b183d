#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::check(harness::cargo_auditable(data)));
