fn main() -> std::process::ExitCode {
    inline_scan::memory::configure_malloc();
    inline_scan::app::main_with_args(std::env::args_os().collect()).into()
}
