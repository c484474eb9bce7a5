//! Records tests: one suite run against the embedded backend (sled) and against the real
//! MariaDB of this machine (a fresh database per test, dropped at the end), the outbox and its
//! drainer, and an outage of MariaDB cut by a TCP proxy in the middle of the load.

mod db;
mod outage;
mod proxy;
mod sample;
mod suite;
