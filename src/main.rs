fn main() -> std::process::ExitCode {
    inline_scan::memory::use_one_arena();
    inline_scan::app::main_with_args(std::env::args_os().collect()).into()
}
