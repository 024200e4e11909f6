//! `scripts/setup.sh` installs libclang when a machine lacks it. Its
//! detection must not count `libclang-cpp` (the C++ library, which bindgen
//! cannot load) as libclang: a machine with only that fails RocksDB's build.
//! `scripts/prune-target.sh` keeps CI's reused target directory from filling
//! the disk: it drops stale builds of executables and nothing current.

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

/// Runs `prune-target.sh` on `target` with `min_free_gb`; panics on failure.
fn prune(target: &Path, min_free_gb: u64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/prune-target.sh");
    let output = Command::new("bash").arg(&script).arg(target).arg(min_free_gb.to_string()).output().unwrap();
    assert!(output.status.success(), "{output:?}");
}

/// Writes an executable file at `path`, modified `age_s` seconds ago.
fn executable(path: &Path, age_s: u64) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, b"\x7fELF").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let modified = std::time::SystemTime::now() - std::time::Duration::from_secs(age_s);
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(modified).unwrap();
}

#[test]
fn pruning_keeps_the_newest_build_of_each_executable() {
    let tree = tempfile::tempdir().unwrap();
    let target = tree.path().join("target");
    let deps = target.join("debug/deps");
    std::fs::create_dir_all(&deps).unwrap();
    std::fs::create_dir_all(target.join("debug/incremental/x")).unwrap();
    executable(&deps.join("pipeline-0000000000000001"), 3_600);
    std::fs::write(deps.join("pipeline-0000000000000001.d"), b"").unwrap();
    executable(&deps.join("pipeline-0000000000000002"), 60);
    std::fs::write(deps.join("pipeline-0000000000000002.d"), b"").unwrap();
    std::fs::write(deps.join("libfoo-0000000000000001.rlib"), b"").unwrap();
    std::fs::write(deps.join("libfoo-0000000000000002.rlib"), b"").unwrap();
    // A binary target, hard-linked as debug/parlend, and older than the
    // unit tests of the same target, which share its name.
    executable(&deps.join("parlend-00000000000000b1"), 7_200);
    std::fs::hard_link(deps.join("parlend-00000000000000b1"), target.join("debug/parlend")).unwrap();
    executable(&deps.join("parlend-00000000000000a1"), 60);

    prune(&target, 0);

    let left: std::collections::BTreeSet<String> =
        std::fs::read_dir(&deps).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
    let expected = [
        "libfoo-0000000000000001.rlib",
        "libfoo-0000000000000002.rlib",
        "parlend-00000000000000a1",
        "parlend-00000000000000b1",
        "pipeline-0000000000000002",
        "pipeline-0000000000000002.d",
    ];
    assert_eq!(left, expected.iter().map(|s| s.to_string()).collect());
    assert!(!target.join("debug/incremental").exists());
}

#[test]
fn pruning_removes_the_target_when_the_disk_stays_short() {
    let tree = tempfile::tempdir().unwrap();
    let target = tree.path().join("target");
    std::fs::create_dir_all(target.join("debug/deps")).unwrap();
    // No filesystem here has a billion GB free.
    prune(&target, 1_000_000_000);
    assert!(!target.exists());
    // A missing target directory is not an error.
    prune(&target, 0);
}
