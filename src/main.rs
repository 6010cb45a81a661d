//! The `proxmox-mpc` binary: parses the command line, then runs one command, the console
//! (interactive on a terminal, piped otherwise), `demo`, `sim` or `completions`, and maps
//! errors to exit codes. Kept lean so the console prompt appears at once: no database or HTTP
//! client is opened before a command needs it.

use std::io::IsTerminal;

use clap::FromArgMatches;
use proxmox_mpc::cli::{self, Command, GlobalArgs};
use proxmox_mpc::commands::registry;
use proxmox_mpc::commands::{self, Ctx};
use proxmox_mpc::console::{self, Session, log};
use proxmox_mpc::error::CommandError;
use proxmox_mpc::ui::Ui;

/// Most of what a large workspace costs is many small allocations (parsed files, model
/// guests, plans): mimalloc serves them faster than the system allocator, on every thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let matches = cli::build().get_matches();
    let global = match GlobalArgs::from_arg_matches(&matches) {
        Ok(g) => g,
        Err(e) => e.exit(),
    };
    let ui = Ui::new(global.format(), global.verbosity());
    log::init(global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ui.error(&format!("cannot start the async runtime: {e}"), &[]);
            std::process::exit(255);
        }
    };
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => {
            ui.error(
                &format!("cannot read the current folder: {e}"),
                &["cd into an existing folder and try again".to_string()],
            );
            std::process::exit(1);
        }
    };
    let interactive = std::io::stdin().is_terminal();

    let code = match matches.subcommand() {
        None => {
            let mut ctx = Ctx::new(ui.clone(), cwd, interactive);
            if global.env.is_some() {
                ctx.select_env(global.env.as_deref());
            }
            log::attach_if_possible(&ctx);
            ctx.interactive = interactive;
            let mut session = Session::new(ctx);
            if global.resume {
                let mut outcome = runtime.block_on(session.restore());
                console::render(&ui, &mut outcome);
            }
            if interactive {
                console::run_interactive(&runtime, &ui, &mut session)
            } else {
                console::run_piped(&runtime, &ui, &mut session)
            }
        }
        Some(("sim" | "completions", _)) => {
            let result = match Command::from_arg_matches(&matches) {
                Ok(Command::Sim(args)) => {
                    runtime.block_on(cli::sim::run_cli(&args, &ui)).map(|()| 0)
                }
                Ok(Command::Completions { shell }) => {
                    let mut out = Vec::new();
                    clap_complete::generate(shell, &mut cli::build(), "proxmox-mpc", &mut out);
                    ui.data(String::from_utf8_lossy(&out).trim_end());
                    Ok(0)
                }
                Err(e) => e.exit(),
            };
            exit_code(&ui, result)
        }
        Some(("demo", sub)) => {
            let dir = sub.get_one::<String>("dir").cloned();
            let yes = sub.get_flag("yes");
            exit_code(
                &ui,
                runtime
                    .block_on(proxmox_mpc::console::demo::prepare(
                        &ui,
                        &cwd,
                        dir.as_deref(),
                        yes,
                        interactive,
                    ))
                    .map(|demo| demo.run_console(&runtime, &ui, interactive)),
            )
        }
        Some(("mcp", sub)) => {
            // stdout is the protocol's channel: errors go to stderr before the session starts.
            let profile = sub
                .get_one::<String>("profile")
                .map_or(Ok(proxmox_mpc::mcp::Profile::ReadOnly), |p| {
                    proxmox_mpc::mcp::Profile::parse(p)
                });
            let result = profile.and_then(|profile| {
                runtime.block_on(proxmox_mpc::mcp::run_stdio(
                    cwd.clone(),
                    profile,
                    global.env.clone(),
                ))
            });
            exit_code(&ui, result.map(|()| 0))
        }
        Some(("serve", sub)) => {
            let args = proxmox_mpc::serve::ServeArgs::from_matches(sub);
            exit_code(
                &ui,
                runtime.block_on(proxmox_mpc::serve::run(&ui, &cwd, &args)),
            )
        }
        Some((name, sub)) if registry::operation_verb(name).is_some() => {
            // A resource verb: the words after it, checked by the language as in the console.
            let mut words = vec![name.to_string()];
            if let Some(rest) = sub.get_many::<String>("words") {
                words.extend(rest.cloned());
            }
            let mut ctx = Ctx::new(ui.clone(), cwd, interactive);
            if global.env.is_some() {
                ctx.select_env(global.env.as_deref());
            }
            log::attach_if_possible(&ctx);
            let result = match proxmox_mpc::lang::parse_words(words) {
                Ok(syntax) => {
                    let request = commands::Request::Resource {
                        verb: name.to_string(),
                        request: commands::request::ResourceRequest::from_syntax(&syntax),
                    };
                    runtime.block_on(commands::execute(&mut ctx, request))
                }
                Err(e) => Err(e.into()),
            };
            log::attach_if_possible(&ctx);
            render_result(&ui, result)
        }
        Some((name, sub)) => match registry::lookup(name) {
            Some(spec) => {
                let mut ctx = Ctx::new(ui.clone(), cwd, interactive);
                // `ci` and `token` take an `--env` of their own (clap hands its value to the
                // global flag too): theirs names the pipeline's or the token's environments, not
                // the one to run against. `export --env NAME` means the same as the global flag.
                if global.env.is_some() && !matches!(spec.name, "ci" | "token") {
                    ctx.select_env(global.env.as_deref());
                }
                log::attach_if_possible(&ctx);
                let result = runtime.block_on(commands::run(&mut ctx, spec, sub));
                log::attach_if_possible(&ctx);
                render_result(&ui, result)
            }
            None => exit_code(
                &ui,
                Err(CommandError::internal(format!("unknown subcommand {name}"))),
            ),
        },
    };
    runtime.shutdown_background();
    std::process::exit(code);
}

/// Renders a command's report (or the output its error carries) and returns the exit code.
fn render_result(ui: &Ui, result: Result<commands::Report, CommandError>) -> i32 {
    match result {
        Ok(items) => {
            for item in &items {
                ui.render(item);
            }
            0
        }
        Err(mut e) => {
            for item in std::mem::take(&mut e.output) {
                ui.render(&item);
            }
            exit_code(ui, Err(e))
        }
    }
}

/// Prints the error, if any, and returns the exit code.
fn exit_code(ui: &Ui, result: Result<i32, CommandError>) -> i32 {
    match result {
        Ok(code) => code,
        Err(e) => {
            if e.kind != proxmox_mpc::error::ErrorKind::ChangesPresent {
                ui.error(&e.message, &e.hints);
            }
            e.kind.exit_code()
        }
    }
}
