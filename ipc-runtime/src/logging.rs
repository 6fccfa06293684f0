//! Log lines a person can read across processes: a subscriber that honours
//! `RUST_LOG` and Bitcoin Core style `-debug=CATEGORY` categories, tags every
//! line with the executable, the process id and the thread, and hands its
//! categories to children started by [`spawn_process`](crate::spawn_process).
//!
//! ```text
//! echo_ipc[3057] main: DEBUG send Init.make_echo() conn=1 thread=main
//! echo_ipc[3317] ipc:main: DEBUG recv Init.make_echo() conn=1 thread=ipc:main
//! echo_ipc[3317] ipc:main: DEBUG return Init.make_echo -> <Echo #1> conn=1 thread=ipc:main
//! echo_ipc[3057] main: DEBUG reply Init.make_echo -> <Echo proxy #1> conn=1 thread=main
//! ```
//!
//! Which events show:
//!
//! - With `RUST_LOG` set, exactly what it says (`RUST_LOG=off` silences
//!   everything, `RUST_LOG=ipc=debug` shows every call), whatever the
//!   categories.
//! - Otherwise `info` and above, plus `debug` and above for each category:
//!   a category is a `tracing` target (`ipc` is every call sent, received,
//!   returned and answered), and `all` (or `1`) is every target.
//!
//! A child started by `spawn_process` inherits the categories through the
//! environment variable [`LOG_VARIABLE`] (and `RUST_LOG` as any variable is
//! inherited); its own call to [`init`] adds them to its own.
//!
//! Behind the `logging` feature, on by default.
//!
//! ```
//! // `--debug=ipc --debug=net`, as an argument parser would collect them.
//! let debug: Vec<String> =
//!     std::env::args().filter_map(|arg| arg.strip_prefix("--debug=").map(str::to_owned)).collect();
//! multiprocess::logging::init(&debug);
//! tracing::debug!(target: "net", "shown with --debug=net");
//! ```

use std::{fmt, io::IsTerminal, sync::OnceLock};

use tracing::{Event, Subscriber};
use tracing_subscriber::{
    EnvFilter,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

/// The environment variable through which [`spawn_process`](crate::spawn_process)
/// hands a child the categories of its parent: comma-separated, as `ipc,coin`.
///
/// ```
/// // In a child, what the parent's --debug options were:
/// let inherited = std::env::var(multiprocess::logging::LOG_VARIABLE).unwrap_or_default();
/// # let _ = inherited;
/// ```
pub const LOG_VARIABLE: &str = "MULTIPROCESS_LOG";

/// The categories in effect in this process, once [`init`] has run.
static CATEGORIES: OnceLock<Vec<String>> = OnceLock::new();

/// Installs the subscriber, with debug events for `categories` (the values
/// of `--debug=CATEGORY` options) and those a parent passed down. Returns
/// `false`, and changes nothing, if a global subscriber is already installed.
///
/// ```
/// // As `main` of a program with `--debug=CATEGORY` options would:
/// let debug = vec!["ipc".to_string()];
/// multiprocess::logging::init(&debug);
/// assert!(multiprocess::logging::categories().contains(&"ipc".to_string()));
/// ```
pub fn init<S: AsRef<str>>(categories: &[S]) -> bool {
    let mut wanted: Vec<String> = Vec::new();
    let inherited = std::env::var(LOG_VARIABLE).unwrap_or_default();
    for category in categories.iter().map(|c| c.as_ref().to_owned()).chain(inherited.split(',').map(str::to_owned)) {
        let category = category.trim().to_owned();
        if valid(&category) && !wanted.contains(&category) {
            wanted.push(category);
        }
    }
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => EnvFilter::builder().parse_lossy(directives),
        Err(_) => EnvFilter::builder().parse_lossy(directives(&wanted)),
    };
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .event_format(Prefixed { exe: exe_name(), pid: std::process::id() })
        .try_init()
        .is_ok();
    if installed {
        let _ = CATEGORIES.set(wanted);
    }
    installed
}

/// The categories [`init`] turned on, in this process (empty before it runs).
///
/// ```
/// assert!(multiprocess::logging::categories().iter().all(|c| !c.is_empty()));
/// ```
pub fn categories() -> &'static [String] {
    CATEGORIES.get().map_or(&[], Vec::as_slice)
}

/// What a child's environment gets: the categories, comma-separated.
pub(crate) fn for_child() -> Option<String> {
    let categories = categories();
    (!categories.is_empty()).then(|| categories.join(","))
}

/// A category is a target name: letters, digits, `_`, `-` and `::`.
fn valid(category: &str) -> bool {
    !category.is_empty()
        && category.len() <= 64
        && category.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
}

/// The filter directives for `categories` when `RUST_LOG` is not set.
fn directives(categories: &[String]) -> String {
    if categories.iter().any(|c| c == "all" || c == "1") {
        return "debug".into();
    }
    let mut directives = vec!["info".to_owned()];
    directives.extend(categories.iter().filter(|c| *c != "0" && *c != "none").map(|c| format!("{c}=debug")));
    directives.join(",")
}

fn exe_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "?".into())
}

/// `exe[pid] thread: LEVEL message fields`, so that the lines of a parent and
/// its children can be told apart.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_become_debug_directives_over_info() {
        assert_eq!(directives(&[]), "info");
        assert_eq!(directives(&["ipc".into(), "coin".into()]), "info,ipc=debug,coin=debug");
        assert_eq!(directives(&["ipc".into(), "all".into()]), "debug");
        assert_eq!(directives(&["0".into()]), "info");
    }

    #[test]
    fn a_category_is_a_target_name_and_nothing_else() {
        for good in ["ipc", "coin", "my_app::net", "wallet-db"] {
            assert!(valid(good), "{good}");
        }
        for bad in ["", "ipc=trace", "a,b", "x y", "[span]", &"x".repeat(65)] {
            assert!(!valid(bad), "{bad}");
        }
    }
}
