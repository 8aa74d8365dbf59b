//! The README's code map ("Layout of the code") stays true: every source folder and every
//! source file of the workspace is named in its folder's entry, and every entry names something
//! that exists.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The code map: the code block under "## Layout of the code".
fn code_map() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = readme
        .split_once("## Layout of the code")
        .expect("the README has a code map")
        .1;
    let block = section.split("```").nth(1).expect("the code map's block");
    block.lines().map(str::to_string).collect()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The lines of the entry for `name` (a file or `folder/`) among `lines`: the line that starts
/// with it at the outermost indentation, and the more indented lines that continue it.
fn entry<'a>(lines: &'a [String], name: &str) -> Option<&'a [String]> {
    let outer = lines.iter().map(|l| indent(l)).min()?;
    let start = lines
        .iter()
        .position(|l| indent(l) == outer && l.split_whitespace().next() == Some(name))?;
    let len = lines[start + 1..]
        .iter()
        .take_while(|l| indent(l) > outer)
        .count();
    Some(&lines[start..=start + len])
}

/// Checks the folder `dir` (relative to the root) against its entry's lines: every `.rs` file
/// named, every sub-folder with an entry of its own (or named, for leaf folders).
fn check(dir: &Path, lines: &[String], missing: &mut Vec<String>) {
    let text = lines.join("\n");
    let mut children: Vec<_> = std::fs::read_dir(root().join(dir))
        .expect("a source folder")
        .map(|e| e.expect("a folder entry").path())
        .collect();
    children.sort();
    for child in children {
        let name = child.file_name().unwrap().to_string_lossy().to_string();
        let rel = dir.join(&name);
        if child.is_dir() {
            let folder = format!("{name}/");
            match entry(&lines[1..], &folder) {
                Some(sub) => check(&rel, sub, missing),
                None if text.contains(&folder) => {}
                None => missing.push(format!("{}/", rel.display())),
            }
        } else if name.ends_with(".rs") && name != "mod.rs" && !text.contains(&name) {
            missing.push(rel.display().to_string());
        }
    }
}

#[test]
fn every_source_folder_and_file_is_in_the_code_map() {
    let map = code_map();
    let mut missing = Vec::new();
    for folder in ["src/", "devnet/", "tests/"] {
        let lines = entry(&map, folder).unwrap_or_else(|| panic!("no entry for {folder}"));
        check(Path::new(folder.trim_end_matches('/')), lines, &mut missing);
    }
    assert!(
        missing.is_empty(),
        "not in the README's code map: {missing:#?}"
    );
    // Every top-level entry names something that exists.
    for line in map
        .iter()
        .filter(|l| indent(l) == 0 && !l.trim().is_empty())
    {
        let name = line.split_whitespace().next().unwrap();
        assert!(
            root().join(name).exists(),
            "the code map names {name}, which does not exist"
        );
    }
}
