//! `sqlx::migrate!` embeds `migrations/` when the crate compiles. A new migration changes no
//! Rust source, so without this Cargo would keep a build that lacks it (and that refuses a
//! database migrated by a newer build as "newer than this build knows").

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
