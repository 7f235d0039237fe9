//! `include/homeostat.h` is what cbindgen makes of `src/lib.rs`: regenerate and compare.
//! `HOMEOSTAT_BLESS=1 cargo test -p homeostat-ffi --test header` rewrites it.

use std::path::Path;

#[test]
fn header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen parses src/lib.rs")
        .write(&mut generated);
    let path = dir.join("include/homeostat.h");
    if std::env::var_os("HOMEOSTAT_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "ffi/include/homeostat.h is stale: run HOMEOSTAT_BLESS=1 cargo test -p homeostat-ffi --test header\n--- generated:\n{}",
        String::from_utf8_lossy(&generated)
    );
}
