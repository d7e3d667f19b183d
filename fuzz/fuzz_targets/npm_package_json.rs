#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::check(harness::npm_package_json(data)));
