//! `docs/ARCHITECTURE.md` points at the code by path: every `` `crate::module::item` `` it names
//! (a crate of the workspace, then modules, then a type, function or constant, then perhaps a
//! method) must still exist, so the map cannot drift from the house.
//!
//! A path is resolved as a reader would: module segments are files (`a/b.rs`, `a/b/mod.rs`, or the
//! crate's `lib.rs`); the first segment that is no file must be defined in the last module file
//! (`fn`, `struct`, `enum`, `trait`, `type`, `const`, `static`, `mod`, a `macro_rules!`, or the
//! `impl` of a type defined elsewhere, as in `service::ingest::Archive::ingest`); a
//! further segment (a method or an associated item) must be a `fn` or `const` of that module or of a
//! file below it (impl blocks live beside their use cases: `service/ingest.rs` adds
//! `Archive::ingest`).

use std::path::{Path, PathBuf};

/// The workspace's crates, by the name code uses, and their source folders.
const CRATES: &[(&str, &str)] = &[
    ("isengard", "node/src"),
    ("isengard_dicom", "crates/dicom/src"),
    ("isengard_index", "crates/index/src"),
    ("isengard_blob", "crates/blob/src"),
    ("isengard_dimse", "crates/dimse/src"),
    ("isengard_proto", "proto/src"),
    ("isengard_test_support", "test-support/src"),
];

fn workspace() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest
        .parent()
        .expect("node/ is in the workspace")
        .to_owned()
}

/// Every backquoted `a::b...` whose first segment is a workspace crate.
fn named_paths(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, quoted) in doc.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let path = quoted.trim_end_matches("()");
        let Some((first, _)) = path.split_once("::") else {
            continue;
        };
        let is_path = path
            .split("::")
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'));
        if is_path && CRATES.iter().any(|(name, _)| *name == first) {
            out.push(path.to_owned());
        }
    }
    out
}

/// The source of a module file, if `dir` + `segment` is one.
fn module_file(dir: &Path, segment: &str) -> Option<PathBuf> {
    [
        dir.join(format!("{segment}.rs")),
        dir.join(segment).join("mod.rs"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

fn defines(source: &str, name: &str, kinds: &[&str]) -> bool {
    source.lines().any(|line| {
        let words: Vec<&str> = line
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '!'))
            .filter(|w| !w.is_empty())
            .collect();
        words
            .windows(2)
            .any(|w| kinds.contains(&w[0]) && w[1] == name)
    })
}

/// Every `.rs` file at or below a module (its file, and its folder when it has one).
fn module_sources(file: &Path) -> Vec<String> {
    let mut files = vec![file.to_owned()];
    let folder = if file
        .file_name()
        .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
    {
        file.parent().map(Path::to_owned)
    } else {
        Some(file.with_extension(""))
    };
    let mut stack: Vec<PathBuf> = folder.into_iter().filter(|d| d.is_dir()).collect();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !files.contains(&path) {
                files.push(path);
            }
        }
    }
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// Why `path` does not resolve, or `None` when it does.
fn unresolved(root: &Path, path: &str) -> Option<String> {
    let mut segments = path.split("::");
    let krate = segments.next().unwrap();
    let (_, src) = CRATES.iter().find(|(name, _)| *name == krate).unwrap();
    let mut dir = root.join(src);
    let mut file = dir.join("lib.rs");
    let rest: Vec<&str> = segments.collect();
    let mut items = rest.as_slice();
    while let Some((segment, tail)) = items.split_first() {
        match module_file(&dir, segment) {
            Some(next) => {
                dir = dir.join(segment);
                file = next;
                items = tail;
            }
            None => break,
        }
    }
    let Some((item, members)) = items.split_first() else {
        return None; // a module
    };
    let source = std::fs::read_to_string(&file).unwrap();
    const ITEMS: &[&str] = &[
        "fn",
        "struct",
        "enum",
        "trait",
        "type",
        "const",
        "static",
        "mod",
        "macro_rules!",
        "impl",
    ];
    if !defines(&source, item, ITEMS) {
        return Some(format!("`{item}` is not defined in {}", file.display()));
    }
    let below = module_sources(&file);
    for member in members {
        if !below.iter().any(|s| defines(s, member, &["fn", "const"])) {
            return Some(format!(
                "no `fn {member}` in {} or below it",
                file.display()
            ));
        }
    }
    None
}

#[test]
fn every_path_named_in_architecture_md_exists() {
    let root = workspace();
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let paths = named_paths(&doc);
    assert!(
        paths.len() >= 20,
        "ARCHITECTURE.md names only {} code paths: {paths:?}",
        paths.len()
    );
    let broken: Vec<String> = paths
        .iter()
        .filter_map(|p| unresolved(&root, p).map(|why| format!("{p}: {why}")))
        .collect();
    assert!(
        broken.is_empty(),
        "stale paths in ARCHITECTURE.md:\n{}",
        broken.join("\n")
    );
}

#[test]
fn a_renamed_function_is_caught() {
    let root = workspace();
    assert_eq!(
        unresolved(&root, "isengard::cluster::node::Node::write"),
        None
    );
    assert_eq!(unresolved(&root, "isengard_blob::BlobStore"), None);
    assert!(unresolved(&root, "isengard::cluster::node::Node::no_such_method").is_some());
    assert!(unresolved(&root, "isengard_index::NoSuchType").is_some());
    assert!(unresolved(&root, "isengard::service::no_such_module::f").is_some());
    let named = named_paths("a `isengard::service` and `Foo::bar` and `isengard_dicom::parse()`");
    assert_eq!(named, ["isengard::service", "isengard_dicom::parse"]);
}
