//! Placeholder replaced below in the same change.
fn main() {}
