#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::check(harness::apk_installed(data)));
