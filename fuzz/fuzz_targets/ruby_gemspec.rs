#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::check(harness::ruby_gemspec(data)));
