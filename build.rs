//! Rebuilds the binary when a migration is added or changed: `sqlx::migrate!` embeds the
//! `migrations/` folder at compile time and cannot tell cargo to watch it.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
