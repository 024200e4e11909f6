//! The dependency rule of ARCHITECTURE.md, checked against `cargo metadata`:
//! every edge between our crates must be listed in the code map's table,
//! and every crate lives in the folder named after it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The table of ARCHITECTURE.md: crate -> (folder, allowed dependencies).
fn allowed_edges(architecture: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let crate_names: Vec<String> = architecture
        .lines()
        .filter_map(|line| line.strip_prefix("| `parlend-"))
        .filter_map(|rest| rest.split('`').next())
        .map(|name| format!("parlend-{name}"))
        .collect();
    let mut table = BTreeMap::new();
    for line in architecture.lines().filter(|line| line.starts_with("| `parlend-")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let folder = cells[2].trim_matches('`').trim_end_matches('/').to_string();
        let may = cells[4];
        let allowed: BTreeSet<String> = if may.contains("every crate above") {
            crate_names.iter().take_while(|other| **other != name).cloned().collect()
        } else {
            may.split(',')
                .map(|dep| dep.trim().trim_matches('`').to_string())
                .filter(|dep| dep.starts_with("parlend-"))
                .collect()
        };
        table.insert(name, (folder, allowed));
    }
    table
}

#[test]
fn crate_edges_are_the_ones_architecture_md_allows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let table = allowed_edges(&architecture);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut problems = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let Some((folder, allowed)) = table.get(name) else {
            problems.push(format!("{name} is not in ARCHITECTURE.md's code map"));
            continue;
        };
        let manifest = Path::new(package["manifest_path"].as_str().unwrap());
        let actual_folder = manifest.parent().unwrap().file_name().unwrap().to_str().unwrap();
        if actual_folder != folder {
            problems.push(format!("{name} lives in {actual_folder}/, the code map says {folder}/"));
        }
        for dependency in package["dependencies"].as_array().unwrap() {
            let dep = dependency["name"].as_str().unwrap();
            if dep.starts_with("parlend-") && !allowed.contains(dep) {
                problems.push(format!("{name} -> {dep} is not an allowed edge"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_table_parser_reads_what_it_should() {
    let text = "| `parlend-a` | `a/` | x | (none) |\n| `parlend-b` | `b/` | y | `parlend-a` |\n\
                | `parlend-c` | `c/` | z | every crate above |\n";
    let table = allowed_edges(text);
    assert!(table["parlend-a"].1.is_empty());
    assert_eq!(table["parlend-b"].1, BTreeSet::from(["parlend-a".to_string()]));
    assert_eq!(table["parlend-c"].1, BTreeSet::from(["parlend-a".to_string(), "parlend-b".to_string()]));
    assert_eq!(table["parlend-b"].0, "b");
}
