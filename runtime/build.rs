//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds
//! runtime/migrations at compile time, and cargo does not otherwise notice a new file
//! there (sqlx's documented build script).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
