//! A fresh MariaDB database per test on this machine's server (`KYC_TEST_MARIADB`, default
//! `mysql://root@127.0.0.1:3306`), dropped when the test ends. An unreachable server fails the
//! test with how to start one: these tests never pass without the database they test.

use kyc::records::MariaDb;
use kyc::settings::DatabaseSettings;
use secrecy::SecretString;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub fn server_url() -> String {
    std::env::var("KYC_TEST_MARIADB").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A database `kyc_test_<random>` on the test server.
pub struct TestDb {
    pub name: String,
    /// A pool on the database itself (not through any proxy), for checks.
    pub pool: MySqlPool,
}

/// `database.*` settings for `url`.
pub fn settings(url: &str, timeout_secs: u64) -> DatabaseSettings {
    DatabaseSettings {
        url: Some(SecretString::from(url.to_owned())),
        max_connections: 4,
        connect_timeout_secs: timeout_secs,
        acquire_timeout_secs: timeout_secs,
    }
}

async fn server_pool() -> MySqlPool {
    let url = server_url();
    let options = MySqlConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("KYC_TEST_MARIADB={url} is not a MariaDB url: {e}"));
    match MySqlPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
    {
        Ok(pool) => pool,
        Err(e) => panic!(
            "MariaDB is not reachable at {url} ({e}). These tests need it: start it with \
             `bash scripts/setup.sh --test` (installs and starts MariaDB), or \
             `sudo service mariadb start`; point KYC_TEST_MARIADB at another server if needed."
        ),
    }
}

impl TestDb {
    /// Creates the database (empty: the backend under test migrates it).
    pub async fn create() -> Self {
        let server = server_pool().await;
        let name = format!(
            "kyc_test_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .execute(&server)
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        server.close().await;
        let options = MySqlConnectOptions::from_str(&server_url())
            .expect("url checked above")
            .database(&name);
        let pool = MySqlPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("connect to the new database");
        Self { name, pool }
    }

    /// The url of the database through `host:port` (the server's own, or a proxy's).
    pub fn url_via(&self, port: Option<u16>) -> String {
        let base = server_url();
        let base = match port {
            Some(p) => {
                let (scheme_user, _) = base.rsplit_once('@').expect("url with user@host");
                format!("{scheme_user}@127.0.0.1:{p}")
            }
            None => base,
        };
        format!("{}/{}", base.trim_end_matches('/'), self.name)
    }

    /// A migrated backend on this database, direct.
    pub async fn backend(&self) -> MariaDb {
        MariaDb::connect(&settings(&self.url_via(None), 5))
            .await
            .expect("connect and migrate")
            .0
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for TestDb {
    /// Drops the database, also when the test panicked (on a thread of its own: a runtime
    /// cannot block inside another).
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let server = server_pool().await;
                if let Err(e) =
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE `{name}`")))
                        .execute(&server)
                        .await
                {
                    eprintln!("could not drop test database {name}: {e}");
                }
                server.close().await;
            });
        })
        .join();
    }
}
