//! Writes `dora.pc`, the pkg-config file of libdora, beside the library
//! this build makes: in `target/debug`, `target/release`, or wherever
//! `CARGO_TARGET_DIR`, `--target-dir`, `--target` or `--profile` put it.
//! Its paths are absolute, so a C build finds the library it was made
//! with, and not one left in another folder:
//!
//! ```sh
//! cargo build --release -p dora-c
//! PKG_CONFIG_PATH=target/release pkg-config --cflags --libs dora
//! ```

use std::path::{Path, PathBuf};

fn main() -> Result<(), String> {
    println!("cargo::rerun-if-changed=build.rs");
    let var = |name: &str| {
        std::env::var(name)
            .map_err(|_| format!("cargo did not set {name} for dora-c's build script"))
    };
    let out_dir = PathBuf::from(var("OUT_DIR")?);
    // OUT_DIR is <profile folder>/build/dora-c-<hash>/out, and the
    // library goes in the profile folder.
    let lib_dir = out_dir.ancestors().nth(3).ok_or_else(|| {
        format!(
            "cannot tell where libdora goes from OUT_DIR {}",
            out_dir.display()
        )
    })?;
    let include_dir = Path::new(&var("CARGO_MANIFEST_DIR")?).join("include");
    let pc = format!(
        "# pkg-config file of the libdora in this folder, written by the build
# of dora-c (`cargo build -p dora-c`). Use it with
#   PKG_CONFIG_PATH={lib} pkg-config --cflags --libs dora
# --static links libdora.a.
libdir={lib}
includedir={include}

Name: dora
Description: The dora node API and operator ABI for C
Version: {version}
Libs: -L${{libdir}} -Wl,-rpath,${{libdir}} -ldora
Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
Cflags: -I${{includedir}}
",
        lib = lib_dir.display(),
        include = include_dir.display(),
        version = var("CARGO_PKG_VERSION")?,
    );
    let path = lib_dir.join("dora.pc");
    // Written only when it changes, so that tools watching the folder are
    // not woken for nothing.
    if std::fs::read_to_string(&path).ok().as_deref() != Some(pc.as_str()) {
        std::fs::write(&path, pc).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
