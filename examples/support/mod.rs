//! What the example programs share: `--debug=CATEGORY`, errors printed as
//! sentences, and serving until SIGINT or SIGTERM.

/// `--debug=CATEGORY`, like Bitcoin Core's `-debug`.
#[derive(clap::Args)]
pub struct Logging {
    /// Log categories: `ipc` logs every call sent, received, returned and
    /// answered; `all` logs everything. `RUST_LOG`, when set, decides instead.
    #[arg(long, value_name = "CATEGORY")]
    pub debug: Vec<String>,
}

/// Installs multiprocess's subscriber with the categories named by `--debug`
/// (children started by `spawn_process` inherit them).
pub fn init_logging(logging: &Logging) {
    multiprocess::logging::init(&logging.debug);
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

/// Stops `listener` on SIGINT, SIGTERM or SIGHUP (Ctrl-C on Windows).
#[allow(dead_code, reason = "only the examples that listen use it")]
pub fn stop_on_signal(listener: &multiprocess::Listener) -> Result<(), multiprocess::Error> {
    let stopper = listener.stopper();
    ctrlc::set_handler(move || stopper.stop()).map_err(|error| {
        multiprocess::Error::Io(std::sync::Arc::new(std::io::Error::other(format!("cannot handle signals: {error}"))))
    })
}
