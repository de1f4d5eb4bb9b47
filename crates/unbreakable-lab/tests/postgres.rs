//! The private PostgreSQL server: it starts, answers, and leaves nothing behind, also
//! when the code using it panics. These tests skip (with a printed line) only when the
//! binaries are not installed; a server that is installed but fails to start fails them.

use std::path::PathBuf;

use unbreakable_lab::servers::postgres::Postgres;
use unbreakable_lab::servers::ServerError;

/// The server, or `None` with a printed line when PostgreSQL is not installed.
fn server() -> Option<Postgres> {
    match Postgres::start() {
        Ok(pg) => Some(pg),
        Err(e @ ServerError::NotInstalled { .. }) => {
            println!("skipped: {e}");
            None
        }
        Err(e) => panic!("PostgreSQL is installed but did not start: {e}"),
    }
}

fn alive(pid: u32) -> bool {
    // Signal 0 checks that the process exists. A zombie would still count, but the guard
    // reaps its child.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn starts_answers_and_is_removed_on_drop() {
    let Some(pg) = server() else { return };
    let (dir, pid) = (pg.dir().to_path_buf(), pg.pid());
    let version: String = rt().block_on(async {
        let client = pg.connect().await.unwrap();
        client.query_one("SHOW server_version", &[]).await.unwrap().get(0)
    });
    assert!(version.starts_with("18"), "{version}");
    // The pool hands out working connections too.
    let n: i64 = rt().block_on(async {
        let pool = pg.pool(2).unwrap();
        let c = pool.get().await.unwrap();
        c.query_one("SELECT count(*) FROM generate_series(1, 1000)", &[]).await.unwrap().get(0)
    });
    assert_eq!(n, 1000);
    assert!(alive(pid) && dir.exists());
    drop(pg);
    assert!(!alive(pid), "the server is still running after drop");
    assert!(!dir.exists(), "the data directory is still there after drop");
}

#[test]
fn a_panic_stops_the_server_and_removes_its_data() {
    let seen = std::sync::Mutex::new(None::<(PathBuf, u32)>);
    let result = std::panic::catch_unwind(|| {
        let Some(pg) = server() else { return };
        *seen.lock().unwrap() = Some((pg.dir().to_path_buf(), pg.pid()));
        panic!("a test failing while the server runs");
    });
    let Some((dir, pid)) = seen.into_inner().unwrap() else { return };
    assert!(result.is_err());
    assert!(!alive(pid), "the server outlived the panic");
    assert!(!dir.exists(), "the data outlived the panic");
}
