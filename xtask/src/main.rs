//! `cargo xtask`: project automation — build the console, run the dev server, run the test matrix.
//!
//! Plain std + anyhow. Works from any directory (the workspace root is this crate's parent) and
//! honours `CARGO_TARGET_DIR` (default `<workspace>/target`).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use std::{env, fs};

use anyhow::{Context, Result, anyhow, bail};

mod layering;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  check               the layering and size rules of server/src: SeaORM only in store/,
                      actix only in http/ and *routes.rs, no function over 80 lines
                      without a `// Long:` comment saying why
  console             build the admin console (wasm32 + wasm-bindgen) into console/dist
  dev [-- ARGS...]    build the console, build the server and the demo shop (one cargo
                      build), then run `portcullis serve --demo [ARGS...]`
                      (http://localhost:8080 on the embedded defaults) and the demo shop
                      (catalog http://127.0.0.1:9001, checkout http://127.0.0.1:9002);
                      move them with PORTCULLIS__HTTP__BIND and PORTCULLIS__HTTP__PUBLIC_URL
                      (the shop follows), DEMO_SHOP_CATALOG_PORT and DEMO_SHOP_CHECKOUT_PORT
  test [--all]        fmt, clippy, tests on SQLite + in-process cache, tests on PostgreSQL +
                      Redis (when PORTCULLIS_TEST_DATABASE_URL and PORTCULLIS_TEST_REDIS_URL
                      are set), console build, browser tests (when Chromium and npm exist);
                      --all also fails when a step was skipped; starts with `check`
  help                show this text
";

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const CONSOLE_PACKAGE: &str = "portcullis-console";
const SHOP_PACKAGE: &str = "portcullis-demo-shop";
const CONSOLE_WASM: &str = "portcullis_console";
/// Files copied verbatim from `console/` next to the wasm-bindgen output.
const CONSOLE_STATIC_FILES: &[&str] = &["index.html", "bootstrap.js", "console.css", "favicon.svg"];
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
const EXTERNAL_ENV: [&str; 2] = ["PORTCULLIS_TEST_DATABASE_URL", "PORTCULLIS_TEST_REDIS_URL"];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("check") if args.len() == 1 => Ctx::new().and_then(|ctx| ctx.check()),
        Some("console") if args.len() == 1 => Ctx::new().and_then(|ctx| ctx.build_console()),
        Some("dev") => Ctx::new().and_then(|ctx| ctx.dev(&args[1..])),
        Some("test") => match parse_test_args(&args[1..]) {
            Some(all) => Ctx::new().and_then(|ctx| ctx.test(all)),
            None => return usage_error(),
        },
        Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => return usage_error(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error() -> ExitCode {
    eprint!("{USAGE}");
    ExitCode::from(2)
}

/// `Some(all)` for valid `test` arguments, `None` otherwise.
fn parse_test_args(args: &[String]) -> Option<bool> {
    match args {
        [] => Some(false),
        [flag] if flag == "--all" => Some(true),
        _ => None,
    }
}

/// Paths and tools shared by every command.
struct Ctx {
    root: PathBuf,
    target_dir: PathBuf,
    cargo: OsString,
}

impl Ctx {
    fn new() -> Result<Self> {
        // `cargo run` gives the running binary its manifest directory; prefer it to the one
        // compiled in, which is stale when several clones share one target directory (CI).
        let manifest = env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = manifest
            .parent()
            .ok_or_else(|| anyhow!("xtask's manifest directory has no parent"))?
            .to_path_buf();
        let target_dir = match env::var_os("CARGO_TARGET_DIR") {
            // Cargo resolves a relative CARGO_TARGET_DIR against the current directory.
            Some(dir) if !dir.is_empty() => env::current_dir()
                .context("reading the current directory")?
                .join(dir),
            _ => root.join("target"),
        };
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        Ok(Self {
            root,
            target_dir,
            cargo,
        })
    }

    /// A `cargo` command run from the workspace root with the chosen target directory, without
    /// the variables `cargo run` set for xtask itself: build scripts that watch one (ring's
    /// watches `CARGO_MANIFEST_DIR`) would otherwise rebuild, with ~20 crates after them, every
    /// time `cargo xtask` and a plain `cargo build` or `cargo test` take turns.
    fn cargo(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.cargo);
        cmd.args(args)
            .current_dir(&self.root)
            .env("CARGO_TARGET_DIR", &self.target_dir);
        for (name, _) in env::vars_os() {
            if name.to_str().is_some_and(set_by_cargo_run) {
                cmd.env_remove(name);
            }
        }
        cmd
    }

    fn console_dist(&self) -> PathBuf {
        self.root.join("console").join("dist")
    }

    // ----- console -----------------------------------------------------------------------------

    fn build_console(&self) -> Result<()> {
        ensure_wasm_target()?;
        let wasm_bindgen = self.ensure_wasm_bindgen()?;

        run(&mut self.cargo(&[
            "build",
            "-p",
            CONSOLE_PACKAGE,
            "--target",
            WASM_TARGET,
            "--release",
        ]))?;

        let wasm = self
            .target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{CONSOLE_WASM}.wasm"));
        let dist = self.console_dist();
        if dist.exists() {
            fs::remove_dir_all(&dist).with_context(|| format!("removing {}", dist.display()))?;
        }
        fs::create_dir_all(&dist).with_context(|| format!("creating {}", dist.display()))?;

        let mut bindgen = Command::new(&wasm_bindgen);
        bindgen
            // The `name` section (every function's mangled name, for stack traces) is more
            // than half the file: browsers run the console without it.
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--remove-name-section",
                "--remove-producers-section",
                "--out-dir",
            ])
            .arg(&dist)
            .args(["--out-name", CONSOLE_WASM])
            .arg(&wasm)
            .current_dir(&self.root);
        run(&mut bindgen)?;

        let source = self.root.join("console");
        for name in CONSOLE_STATIC_FILES {
            let from = source.join(name);
            fs::copy(&from, dist.join(name))
                .with_context(|| format!("copying {} into {}", from.display(), dist.display()))?;
        }

        let wasm_out = dist.join(format!("{CONSOLE_WASM}_bg.wasm"));
        let bytes =
            fs::read(&wasm_out).with_context(|| format!("reading {}", wasm_out.display()))?;
        println!(
            "console built into {} ({} KiB of wasm, {} KiB gzipped as served)",
            dist.display(),
            bytes.len() / 1024,
            gzipped_len(&bytes)? / 1024
        );
        Ok(())
    }

    /// Returns a `wasm-bindgen` whose version matches the `wasm-bindgen` crate in Cargo.lock,
    /// installing it with `cargo install` when there is none.
    fn ensure_wasm_bindgen(&self) -> Result<PathBuf> {
        let lock_path = self.root.join("Cargo.lock");
        let lock = fs::read_to_string(&lock_path)
            .with_context(|| format!("reading {}", lock_path.display()))?;
        let wanted = locked_version(&lock, "wasm-bindgen")
            .ok_or_else(|| anyhow!("no wasm-bindgen package in {}", lock_path.display()))?;

        let candidates = wasm_bindgen_candidates();
        if let Some(found) = find_wasm_bindgen(&candidates, &wanted) {
            return Ok(found);
        }
        println!("wasm-bindgen {wanted} not found; installing wasm-bindgen-cli {wanted}");
        // No --locked: the CLI's own lock file names a crate version the index lacks.
        let mut install = Command::new(&self.cargo);
        install
            .args(["install", "wasm-bindgen-cli", "--version", &wanted])
            .current_dir(&self.root);
        run(&mut install)?;
        find_wasm_bindgen(&candidates, &wanted).ok_or_else(|| {
            anyhow!("installed wasm-bindgen-cli {wanted}, but no matching `wasm-bindgen` was found")
        })
    }

    // ----- dev ---------------------------------------------------------------------------------

    /// Builds the console, then the server and the demo shop in ONE cargo invocation, and runs
    /// the binaries it produced. (`cargo run -p portcullis` after a combined build would compile
    /// ~65 dependencies again: features are unified over the packages selected, and the shop
    /// turns on features, e.g. reqwest's `json`, that the server alone does not.)
    fn dev(&self, extra: &[String]) -> Result<()> {
        let extra = match extra.split_first() {
            Some((first, rest)) if first == "--" => rest,
            _ => extra,
        };
        self.build_console()?;
        run(&mut self.cargo(&["build", "-p", "portcullis", "-p", SHOP_PACKAGE]))?;
        // The demo shop runs next to the server (it discovers the provider on first use) and
        // stops with it. It follows the server when the public URL was moved by environment.
        let mut shop = Command::new(self.debug_bin(SHOP_PACKAGE));
        shop.current_dir(&self.root);
        if env_is_empty("DEMO_SHOP_ISSUER")
            && let Some(url) = env::var("PORTCULLIS__HTTP__PUBLIC_URL")
                .ok()
                .filter(|u| !u.is_empty())
        {
            shop.env(
                "DEMO_SHOP_ISSUER",
                format!("{}/o/demo", url.trim_end_matches('/')),
            );
        }
        let mut shop = shop
            .spawn()
            .with_context(|| format!("cannot start {}", describe(&shop)))?;
        let mut cmd = Command::new(self.debug_bin("portcullis"));
        cmd.args(["serve", "--demo"])
            .args(extra)
            .current_dir(&self.root)
            // The demo banner says the shop is already running instead of how to start it.
            .env("PORTCULLIS_DEMO_SHOP_STARTED", "1");
        let result = run(&mut cmd);
        let _ = shop.kill();
        let _ = shop.wait();
        result
    }

    /// A binary of the last debug build in the target directory.
    fn debug_bin(&self, name: &str) -> PathBuf {
        self.target_dir
            .join("debug")
            .join(format!("{name}{}", env::consts::EXE_SUFFIX))
    }

    // ----- test --------------------------------------------------------------------------------

    /// The layering and size rules of `server/src` (see `layering`).
    fn check(&self) -> Result<()> {
        let breaches = layering::check(&self.root.join("server").join("src"))?;
        for b in &breaches {
            eprintln!("{b}");
        }
        if !breaches.is_empty() {
            bail!(
                "{} breach(es) of the layering and size rules",
                breaches.len()
            );
        }
        println!("server/src keeps the layering and size rules");
        Ok(())
    }

    fn test(&self, all: bool) -> Result<()> {
        let mut report = Report::default();

        report.step("layering and size rules", || {
            self.check().map(|()| Outcome::Passed)
        });

        report.step("fmt", || {
            run(&mut self.cargo(&["fmt", "--all", "--", "--check"])).map(|()| Outcome::Passed)
        });

        report.step("clippy", || {
            run(&mut self.cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
            .map(|()| Outcome::Passed)
        });

        report.step("tests (SQLite + in-process cache)", || {
            let mut cmd = self.cargo(&[
                "test",
                "--workspace",
                "--exclude",
                CONSOLE_PACKAGE,
                "--",
                "--skip",
                "postgres_redis",
            ]);
            for name in EXTERNAL_ENV {
                cmd.env_remove(name);
            }
            run(&mut cmd).map(|()| Outcome::Passed)
        });

        report.step("tests (PostgreSQL + Redis)", || {
            if EXTERNAL_ENV.iter().any(|name| env_is_empty(name)) {
                return Ok(Outcome::Skipped(
                    "PORTCULLIS_TEST_DATABASE_URL / PORTCULLIS_TEST_REDIS_URL not set".into(),
                ));
            }
            let mut cmd = self.cargo(&["test", "-p", "portcullis", "--tests", "postgres_redis"]);
            cmd.env("PORTCULLIS_TEST_REQUIRE_EXTERNAL", "1");
            run(&mut cmd).map(|()| Outcome::Passed)
        });

        let console_ok = report.step("console build", || {
            self.build_console().map(|()| Outcome::Passed)
        });

        report.step("browser tests (e2e/)", || {
            let chromium = match find_chromium() {
                Ok(path) => path,
                Err(reason) => return Ok(Outcome::Skipped(reason)),
            };
            if !tool_runs("npm") {
                return Ok(Outcome::Skipped("npm not found".into()));
            }
            if !console_ok {
                return Ok(Outcome::Skipped("the console build failed".into()));
            }
            self.browser_tests(&chromium).map(|()| Outcome::Passed)
        });

        print!("{}", report.table());
        let failed = report.count(|o| matches!(o, Outcome::Failed));
        let skipped = report.count(|o| matches!(o, Outcome::Skipped(_)));
        if failed > 0 {
            bail!("{failed} step(s) failed");
        }
        if all && skipped > 0 {
            bail!("{skipped} step(s) skipped, and --all requires every step to run");
        }
        Ok(())
    }

    fn browser_tests(&self, chromium: &Path) -> Result<()> {
        run(&mut self.cargo(&["build", "-p", "portcullis", "-p", SHOP_PACKAGE]))?;

        let e2e = self.root.join("e2e");
        if npm_install_needed(&e2e) {
            let mut ci = Command::new("npm");
            ci.args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&e2e)
                .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
            run(&mut ci)?;
        }

        let bin = self
            .target_dir
            .join("debug")
            .join(format!("portcullis{}", env::consts::EXE_SUFFIX));
        let mut playwright = Command::new("npx");
        playwright
            .args(["--no-install", "playwright", "test"])
            .current_dir(&e2e)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .env("PORTCULLIS_BIN", &bin)
            .env(
                "PORTCULLIS_SHOP_BIN",
                self.target_dir
                    .join("debug")
                    .join(format!("{SHOP_PACKAGE}{}", env::consts::EXE_SUFFIX)),
            )
            .env("PORTCULLIS_CHROMIUM", chromium)
            .env("PORTCULLIS_CONSOLE_DIR", self.console_dist())
            .env("CARGO_TARGET_DIR", &self.target_dir);
        run(&mut playwright)
    }
}

// ----- helpers ---------------------------------------------------------------------------------

/// Runs a command with inherited stdio; an error unless it exits successfully.
/// Size of `bytes` gzipped at the default level (what the server's compression sends).
fn gzipped_len(bytes: &[u8]) -> Result<usize> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes)?;
    Ok(gz.finish()?.len())
}

fn run(cmd: &mut Command) -> Result<()> {
    let line = describe(cmd);
    println!("$ {line}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// The stdout of a command that exited successfully, or `None`.
fn output_of(cmd: &mut Command) -> Option<String> {
    let output = cmd.output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn tool_runs(program: &str) -> bool {
    output_of(Command::new(program).arg("--version")).is_some()
}

/// Whether `cargo run` sets this variable for the program it runs (the package's manifest and
/// metadata, not the user's configuration such as `CARGO_HOME` or `CARGO_TARGET_DIR`).
fn set_by_cargo_run(name: &str) -> bool {
    matches!(
        name,
        "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_CRATE_NAME"
            | "CARGO_BIN_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_RUSTC_CURRENT_DIR"
    ) || name.starts_with("CARGO_PKG_")
}

fn env_is_empty(name: &str) -> bool {
    env::var_os(name).is_none_or(|value| value.is_empty())
}

fn ensure_wasm_target() -> Result<()> {
    let Some(installed) = output_of(Command::new("rustup").args(["target", "list", "--installed"]))
    else {
        println!("rustup not found; assuming the {WASM_TARGET} target is installed");
        return Ok(());
    };
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// The version of package `name` in a Cargo.lock (the first one, if several are locked).
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted_name = format!("name = \"{name}\"");
    let mut in_wanted = false;
    for line in lock.lines().map(str::trim) {
        if line == "[[package]]" {
            in_wanted = false;
        } else if line == wanted_name {
            in_wanted = true;
        } else if in_wanted && let Some(version) = line.strip_prefix("version = ") {
            return Some(version.trim_matches('"').to_owned());
        }
    }
    None
}

/// `wasm-bindgen` on PATH, then the one `cargo install` puts in `$CARGO_HOME/bin`.
fn wasm_bindgen_candidates() -> Vec<PathBuf> {
    let exe = format!("wasm-bindgen{}", env::consts::EXE_SUFFIX);
    let mut candidates = vec![PathBuf::from(&exe)];
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    if let Some(home) = cargo_home {
        candidates.push(home.join("bin").join(exe));
    }
    candidates
}

fn find_wasm_bindgen(candidates: &[PathBuf], wanted: &str) -> Option<PathBuf> {
    candidates.iter().find_map(|candidate| {
        let version = output_of(Command::new(candidate).arg("--version"))?;
        // `wasm-bindgen 0.2.130`
        let found = version.split_whitespace().nth(1)?;
        if found == wanted {
            Some(candidate.clone())
        } else {
            println!(
                "{} is version {found}, Cargo.lock wants {wanted}",
                candidate.display()
            );
            None
        }
    })
}

fn find_chromium() -> Result<PathBuf, String> {
    match env::var_os("PORTCULLIS_CHROMIUM").filter(|value| !value.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!("PORTCULLIS_CHROMIUM={} not found", path.display()))
            }
        }
        None if Path::new(DEFAULT_CHROMIUM).is_file() => Ok(PathBuf::from(DEFAULT_CHROMIUM)),
        None => Err(format!(
            "no Chromium ({DEFAULT_CHROMIUM} missing, PORTCULLIS_CHROMIUM not set)"
        )),
    }
}

/// `npm ci` is needed when node_modules is missing or older than package-lock.json.
fn npm_install_needed(e2e: &Path) -> bool {
    let modified = |path: &Path| fs::metadata(path).and_then(|meta| meta.modified()).ok();
    let Some(lock) = modified(&e2e.join("package-lock.json")) else {
        return true;
    };
    // npm writes node_modules/.package-lock.json on every install.
    let installed = modified(&e2e.join("node_modules").join(".package-lock.json"))
        .or_else(|| modified(&e2e.join("node_modules")));
    installed.is_none_or(|installed| installed < lock)
}

// ----- the test report -------------------------------------------------------------------------

enum Outcome {
    Passed,
    Failed,
    Skipped(String),
}

#[derive(Default)]
struct Report {
    rows: Vec<(String, Outcome, Duration)>,
}

impl Report {
    /// Runs one step under a `==> name` banner and records its outcome; an error is reported and
    /// recorded as a failure. Returns whether the step did not fail, so later steps can depend on
    /// it.
    fn step(&mut self, name: &str, body: impl FnOnce() -> Result<Outcome>) -> bool {
        println!("\n==> {name}");
        let started = Instant::now();
        let result = body();
        let elapsed = started.elapsed();
        let (outcome, ok) = match result {
            Ok(outcome) => {
                if let Outcome::Skipped(reason) = &outcome {
                    println!("skipped: {reason}");
                }
                (outcome, true)
            }
            Err(err) => {
                eprintln!("xtask: {name} FAILED: {err:#}");
                (Outcome::Failed, false)
            }
        };
        self.rows.push((name.to_owned(), outcome, elapsed));
        ok
    }

    fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.rows
            .iter()
            .filter(|(_, outcome, _)| pred(outcome))
            .count()
    }

    fn table(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|(name, _, _)| name.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::from("\n==> summary\n");
        for (name, outcome, elapsed) in &self.rows {
            let result = match outcome {
                Outcome::Passed => "passed".to_owned(),
                Outcome::Failed => "FAILED".to_owned(),
                Outcome::Skipped(reason) => format!("skipped ({reason})"),
            };
            let _ = writeln!(
                out,
                "  {name:<width$}  {:>8}  {result}",
                format_duration(*elapsed)
            );
        }
        out
    }
}

fn format_duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = elapsed.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_locked_version_of_a_package() {
        let lock = r#"
[[package]]
name = "wasm-bindgen-futures"
version = "0.4.80"

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
        assert_eq!(
            locked_version(lock, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(locked_version(lock, "leptos"), None);
    }

    #[test]
    fn strips_what_cargo_run_set_and_keeps_the_users_cargo_settings() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
        ] {
            assert!(set_by_cargo_run(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "CARGO_INCREMENTAL",
            "CARGO_PROFILE_DEV_DEBUG",
            "CARGO_TERM_COLOR",
            "PATH",
        ] {
            assert!(!set_by_cargo_run(name), "{name}");
        }
    }

    #[test]
    fn parses_test_arguments() {
        assert_eq!(parse_test_args(&[]), Some(false));
        assert_eq!(parse_test_args(&["--all".to_owned()]), Some(true));
        assert_eq!(parse_test_args(&["--some".to_owned()]), None);
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }

    #[test]
    fn the_summary_lists_every_step() {
        let mut report = Report::default();
        assert!(report.step("fmt", || Ok(Outcome::Passed)));
        assert!(report.step("browser", || Ok(Outcome::Skipped("no npm".into()))));
        assert!(!report.step("clippy", || Err(anyhow!("boom"))));
        let table = report.table();
        assert!(table.contains("passed"));
        assert!(table.contains("skipped (no npm)"));
        assert!(table.contains("FAILED"));
        assert_eq!(report.count(|o| matches!(o, Outcome::Failed)), 1);
    }
}
