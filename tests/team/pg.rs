//! A throwaway PostgreSQL for the shared-state tests: Debian's `initdb` and `pg_ctl`
//! (`/usr/lib/postgresql/N/bin`) in a temporary folder, listening on a free 127.0.0.1 port,
//! with password (SCRAM) authentication for the user `pmpc`; as root (initdb refuses root) the
//! server runs as `nobody` through `setpriv`. With `PMPC_TEST_POSTGRES_URL`
//! (`postgres://USER:PASSWORD@HOST:PORT/DB`) set, each test gets a fresh database on that
//! server instead. The server is stopped (`pg_ctl stop`, its own data folder) when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::{Connection, PgConnection};

/// The password the tests pass in [`PASSWORD_VAR`]; it must land in no file and no output.
const TEST_PASSWORD: &str = "pg-Secret-4c1e9a77";

/// The variable the workspaces read the password from (`state.password: env:...`).
pub const PASSWORD_VAR: &str = "PMPC_TEST_PG_PASSWORD";

/// A database for one test.
pub struct Pg {
    user: String,
    host: String,
    port: u16,
    pub database: String,
    password: String,
    server: Option<Server>,
}

/// The server this test started.
struct Server {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_nobody: bool,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").is_file());
    versions.sort();
    versions.pop().expect(
        "PostgreSQL's server binaries are missing: apt-get install postgresql (or set PMPC_TEST_POSTGRES_URL)",
    )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn chown_nobody(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path; 65534 is nobody/nogroup.
    let rc = unsafe { libc::chown(c.as_ptr(), 65534, 65534) };
    assert_eq!(rc, 0, "chown {}", path.display());
}

impl Server {
    /// `tool` of the server binaries, as nobody when the tests run as root.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_nobody {
            let mut cmd = Command::new("setpriv");
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(program);
            cmd
        } else {
            Command::new(program)
        };
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LC_ALL", "C")
            .current_dir(self.dir.path());
        cmd
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Pg {
    /// A fresh database: on `PMPC_TEST_POSTGRES_URL`'s server, or on a new one started here.
    pub fn start() -> Pg {
        let mut pg = match std::env::var("PMPC_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Self::external(&url),
            _ => Self::own_server(),
        };
        let name = format!("pmpc_{}", hex::encode(rand::random::<[u8; 6]>()));
        runtime().block_on(async {
            let mut conn = PgConnection::connect(&pg.url_with_password_for("postgres"))
                .await
                .expect("the test server accepts the password");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create database");
            conn.close().await.ok();
        });
        pg.database = name;
        pg
    }

    fn external(url: &str) -> Pg {
        let parsed = url::Url::parse(url).expect("PMPC_TEST_POSTGRES_URL is a URL");
        Pg {
            user: parsed.username().to_string(),
            host: parsed.host_str().unwrap_or("127.0.0.1").to_string(),
            port: parsed.port().unwrap_or(5432),
            database: String::new(),
            password: parsed.password().unwrap_or_default().to_string(),
            server: None,
        }
    }

    fn own_server() -> Pg {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("pmpc-pg-")
            .tempdir()
            .expect("temp dir");
        let as_nobody = is_root();
        if as_nobody {
            chown_nobody(dir.path());
        }
        let server = Server {
            dir,
            bin,
            as_nobody,
        };
        let pwfile = server.dir.path().join("pw");
        std::fs::write(&pwfile, TEST_PASSWORD).expect("password file");
        if as_nobody {
            chown_nobody(&pwfile);
        }
        let out = server
            .command("initdb")
            .arg("-D")
            .arg(server.data())
            .args([
                "-U",
                "pmpc",
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("--no-sync")
            .output()
            .expect("initdb runs");
        // The password file was initdb's only; it does not outlive it.
        std::fs::remove_file(&pwfile).ok();
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut last = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=60",
                server.dir.path().display()
            );
            let out = server
                .command("pg_ctl")
                .arg("-D")
                .arg(server.data())
                .arg("-l")
                .arg(server.dir.path().join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"])
                .output()
                .expect("pg_ctl runs");
            if out.status.success() {
                return Pg {
                    user: "pmpc".into(),
                    host: "127.0.0.1".into(),
                    port,
                    database: String::new(),
                    password: TEST_PASSWORD.into(),
                    server: Some(server),
                };
            }
            last = format!(
                "{}{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default()
            );
        }
        panic!("the test PostgreSQL did not start: {last}");
    }

    /// `postgres://USER@HOST:PORT/DB`: what config.yml holds (no password).
    pub fn url(&self) -> String {
        format!(
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }

    /// The password, for the variable the workspaces read it from.
    pub fn password(&self) -> &str {
        &self.password
    }

    fn url_with_password_for(&self, database: &str) -> String {
        let mut url = url::Url::parse(&format!(
            "postgres://{}@{}:{}/{database}",
            self.user, self.host, self.port
        ))
        .expect("url");
        url.set_password(Some(&self.password)).expect("password");
        url.to_string()
    }

    /// Runs `sql` on the test database as someone with database access (not proxmox-mpc).
    pub fn execute(&self, sql: &str) -> u64 {
        let url = self.url_with_password_for(&self.database);
        runtime().block_on(async {
            let mut conn = PgConnection::connect(&url).await.expect("connects");
            let done = sqlx::query(sql).execute(&mut conn).await.expect(sql);
            conn.close().await.ok();
            done.rows_affected()
        })
    }

    /// The first column of each row of `sql`, as text.
    pub fn column(&self, sql: &str) -> Vec<String> {
        let url = self.url_with_password_for(&self.database);
        runtime().block_on(async {
            use sqlx::Row;
            let mut conn = PgConnection::connect(&url).await.expect("connects");
            let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect(sql);
            conn.close().await.ok();
            rows.iter()
                .map(|r| r.try_get::<String, _>(0).expect("text column"))
                .collect()
        })
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            let _ = server
                .command("pg_ctl")
                .arg("-D")
                .arg(server.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        } else if !self.database.is_empty() {
            let name = self.database.clone();
            let url = self.url_with_password_for("postgres");
            runtime().block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        }
    }
}

/// A small runtime for the test's own database calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
