#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::check(harness::rpm_manifest(data)));
