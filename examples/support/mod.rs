//! What the example programs share: `--debug=ipc`, and log lines that say
//! which process and thread wrote them.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, format::Writer};
use tracing_subscriber::registry::LookupSpan;

/// Prefixes every line with the executable, the pid and the thread name, so
/// that the lines of a parent and its child can be told apart.
struct Prefixed {
    exe: String,
    pid: u32,
}

impl<S, N> FormatEvent<S, N> for Prefixed
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let thread = std::thread::current();
        let level = event.metadata().level();
        write!(writer, "{}[{}] {}: {level} ", self.exe, self.pid, thread.name().unwrap_or("unnamed"))?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// `--debug=CATEGORY`, like Bitcoin Core's `-debug`.
#[derive(clap::Args)]
pub struct Logging {
    /// Log categories: `ipc` logs every call sent, received, returned and answered.
    #[arg(long, value_name = "CATEGORY")]
    pub debug: Vec<String>,
}

impl Logging {
    /// The same categories, as arguments for a child process.
    #[allow(dead_code, reason = "only the examples that spawn children use it")]
    pub fn args(&self) -> impl Iterator<Item = String> + '_ {
        self.debug.iter().map(|category| format!("--debug={category}"))
    }
}

/// Turns on the log categories named with `--debug`.
pub fn init_logging(logging: &Logging) {
    if !logging.debug.iter().any(|category| category == "ipc") {
        return;
    }
    let exe = std::env::current_exe()
        .ok()
        .and_then(|path| path.file_name().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "?".into());
    tracing_subscriber::fmt()
        .with_env_filter("ipc=debug")
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .event_format(Prefixed { exe, pid: std::process::id() })
        .init();
}

/// Ends the program: on error, prints it as a sentence (not `Debug`, as a
/// `main` that returns `Result` would) and exits with status 1.
pub fn exit(outcome: Result<(), multiprocess::Error>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
