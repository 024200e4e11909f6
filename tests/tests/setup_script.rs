//! `scripts/setup.sh` installs libclang when a machine lacks it. Its
//! detection must not count `libclang-cpp` (the C++ library, which bindgen
//! cannot load) as libclang: a machine with only that fails RocksDB's build.

use std::path::Path;
use std::process::Command;

/// Runs `setup.sh --check` against a fake library tree holding `files`;
/// returns its exit code (0: found, 3: the install would run).
fn check_with(files: &[&str]) -> i32 {
    let tree = tempfile::tempdir().unwrap();
    let lib = tree.path().join("usr/lib/llvm-14/lib");
    std::fs::create_dir_all(&lib).unwrap();
    for file in files {
        std::fs::write(lib.join(file), b"").unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/setup.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg("--check")
        .env("LIBCLANG_SEARCH_DIRS", lib.display().to_string())
        .env_remove("LIBCLANG_PATH")
        .output()
        .unwrap();
    output.status.code().unwrap()
}

#[test]
fn only_libclang_cpp_triggers_the_install() {
    assert_eq!(check_with(&["libclang-cpp.so.14", "libclang-cpp.so"]), 3);
    assert_eq!(check_with(&[]), 3);
}

#[test]
fn a_real_libclang_is_found() {
    assert_eq!(check_with(&["libclang-cpp.so.14", "libclang-14.so.1"]), 0);
    assert_eq!(check_with(&["libclang.so"]), 0);
    assert_eq!(check_with(&["libclang.so.1"]), 0);
    assert_eq!(check_with(&["libclang-14.so"]), 0);
}
