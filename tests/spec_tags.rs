//! The spec and the code cite each other by tag (`FC-3`, `PIPE-7`, `LSTM-P6`): this test fails
//! when they drift apart.
//!
//! - A tag is *defined* in spec/ where a page states it: an equation line that starts with it
//!   in parentheses (`(FC-3)  y = ...`), a heading that starts with it (`### POOL-1: output
//!   size`, `## SYN-1: the classes`), or a bold list item (`**LSTM-P1 (sign).**`).
//! - A tag is *cited* wherever it appears as a word (`spec/layers/fc.md (FC-3)`, `FC-3`,
//!   `CAP-2..CAP-5`; a range cites every tag in it).
//!
//! It fails when a tag cited in src/ is not defined in spec/, or when a tag defined in spec/ is
//! cited nowhere in src/. Property tags (`LSTM-P1`, a `-P` after the family) state what the
//! rules conserve, not an equation a function implements: they must be cited in tests/ (by the
//! test that checks them) or src/. Tags the spec itself refers to must be defined too, and every
//! fenced block in spec/ names its language: the pages are mounted into rustdoc, where a bare
//! fence is compiled as a Rust doctest.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Words of the tag's form that are not tags: names of data sets, nets and encodings.
const NOT_TAGS: [&str; 3] = ["UCF-101", "UTF-8", "VGG-16"];

/// The project's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` whose name ends with `extension`, sorted.
fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(files(&path, extension));
        } else if path.to_string_lossy().ends_with(extension) {
            out.push(path);
        }
    }
    out
}

/// `path` relative to the project's root, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A tag's parts: family (`LSTM`), whether it is a property (`-P`), number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tag<'a> {
    family: &'a str,
    property: bool,
    number: u32,
}

impl Tag<'_> {
    fn name(&self) -> String {
        let p = if self.property { "P" } else { "" };
        format!("{}-{p}{}", self.family, self.number)
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The tag that starts at `text[start..]` and the byte just past it: two or more capital
/// letters, `-`, an optional `P`, digits, and no letter or digit right after. `None` when the
/// text there is not of that form.
fn tag_at(text: &str, start: usize) -> Option<(Tag<'_>, usize)> {
    let bytes = text.as_bytes();
    if !bytes.get(start)?.is_ascii_uppercase() || (start > 0 && is_word_byte(bytes[start - 1])) {
        return None;
    }
    let mut i = start;
    while i < bytes.len() && bytes[i].is_ascii_uppercase() {
        i += 1;
    }
    let family = &text[start..i];
    if family.len() < 2 || bytes.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let property = bytes.get(i) == Some(&b'P');
    if property {
        i += 1;
    }
    let digits = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if i == digits || (i < bytes.len() && is_word_byte(bytes[i])) {
        return None;
    }
    let number = text[digits..i].parse().ok()?;
    Some((
        Tag {
            family,
            property,
            number,
        },
        i,
    ))
}

/// Every tag named in `text`, a range `A-1..A-4` or `A-1..4` expanded to each of its tags,
/// with the 1-based line it is on. Words in `NOT_TAGS` are skipped.
fn tags_in(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            line += 1;
        }
        let Some((first, end)) = tag_at(text, i) else {
            i += 1;
            continue;
        };
        let mut last = first.number;
        let mut next = end;
        if text[end..].starts_with("..") {
            let after = end + 2;
            if let Some((to, to_end)) = tag_at(text, after) {
                if to.family == first.family && to.property == first.property {
                    last = to.number;
                    next = to_end;
                }
            } else {
                let digits = text[after..]
                    .bytes()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if let Ok(n) = text[after..after + digits].parse() {
                    last = n;
                    next = after + digits;
                }
            }
        }
        if !NOT_TAGS.contains(&first.name().as_str()) {
            for number in first.number..=last.max(first.number) {
                out.push((Tag { number, ..first }.name(), line));
            }
        }
        i = next;
    }
    out
}

/// The tag a spec line defines, if any (see the module's doc).
fn defined_on(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    if let Some(rest) = trimmed.strip_prefix('(') {
        if let Some((tag, end)) = tag_at(rest, 0) {
            return rest[end..].starts_with(')').then(|| tag.name());
        }
    }
    let heading = trimmed.trim_start_matches('#');
    if heading.len() < trimmed.len() {
        if let Some((tag, end)) = tag_at(heading.trim_start(), 0) {
            return heading.trim_start()[end..]
                .starts_with(':')
                .then(|| tag.name());
        }
    }
    let bold = trimmed.find("**")?;
    let (tag, _) = tag_at(&trimmed[bold + 2..], 0)?;
    Some(tag.name())
}

/// Tag -> where it is defined (the first place), over every page of spec/.
fn spec_definitions() -> BTreeMap<String, String> {
    let mut defined = BTreeMap::new();
    for page in files(&root().join("spec"), ".md") {
        let text = fs::read_to_string(&page).unwrap();
        for (n, line) in text.lines().enumerate() {
            if let Some(tag) = defined_on(line) {
                defined
                    .entry(tag)
                    .or_insert_with(|| format!("{}:{}", shown(&page), n + 1));
            }
        }
    }
    defined
}

/// Tag -> the places (file:line) that name it, over every file of `dir` ending `extension`.
fn citations(dir: &str, extension: &str) -> BTreeMap<String, Vec<String>> {
    let mut cited: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files(&root().join(dir), extension) {
        let text = fs::read_to_string(&file).unwrap();
        for (tag, line) in tags_in(&text) {
            cited
                .entry(tag)
                .or_default()
                .push(format!("{}:{line}", shown(&file)));
        }
    }
    cited
}

/// One line per entry: `TAG  where`.
fn listing<'a>(entries: impl Iterator<Item = (&'a String, String)>) -> String {
    entries
        .map(|(tag, place)| format!("  {tag:<10} {place}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_tag_cited_in_src_is_defined_in_spec_and_every_defined_tag_is_cited() {
    let defined = spec_definitions();
    let in_src = citations("src", ".rs");
    let in_tests = citations("tests", ".rs");
    assert!(
        defined.len() > 100,
        "only {} tags found in spec/: has the way tags are written changed?",
        defined.len()
    );

    let undefined: Vec<_> = in_src
        .iter()
        .filter(|(tag, _)| !defined.contains_key(*tag))
        .map(|(tag, places)| (tag, places.join(", ")))
        .collect();
    let uncited: Vec<_> = defined
        .iter()
        .filter(|(tag, _)| {
            let tested_property = tag.contains("-P") && in_tests.contains_key(*tag);
            !(in_src.contains_key(*tag) || tested_property)
        })
        .map(|(tag, place)| (tag, format!("defined at {place}")))
        .collect();
    println!(
        "{} tags defined in spec/, {} cited in src/",
        defined.len(),
        in_src.len()
    );

    let mut problems = Vec::new();
    if !undefined.is_empty() {
        problems.push(format!(
            "cited in src/ but defined nowhere in spec/:\n{}",
            listing(undefined.into_iter())
        ));
    }
    if !uncited.is_empty() {
        problems.push(format!(
            "defined in spec/ but cited nowhere in src/ (a property tag: nowhere in src/ or \
             tests/):\n{}",
            listing(uncited.into_iter())
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_tag_the_spec_refers_to_is_defined_in_spec() {
    let defined = spec_definitions();
    let in_spec = citations("spec", ".md");
    let undefined: Vec<_> = in_spec
        .iter()
        .filter(|(tag, _)| !defined.contains_key(*tag))
        .map(|(tag, places)| (tag, places.join(", ")))
        .collect();
    assert!(
        undefined.is_empty(),
        "named in spec/ but defined nowhere in spec/:\n{}",
        listing(undefined.into_iter())
    );
}

#[test]
fn every_fenced_block_in_spec_names_its_language() {
    let mut bare = Vec::new();
    for page in files(&root().join("spec"), ".md") {
        let text = fs::read_to_string(&page).unwrap();
        let mut open = false;
        for (n, line) in text.lines().enumerate() {
            let fence = line.trim_start();
            if !fence.starts_with("```") {
                continue;
            }
            if !open && fence.trim_end() == "```" {
                bare.push(format!("{}:{}", shown(&page), n + 1));
            }
            open = !open;
        }
    }
    assert!(
        bare.is_empty(),
        "a fence without a language is a Rust doctest once the page is mounted in rustdoc; \
         write ```text (or the language): {}",
        bare.join(", ")
    );
}

/// The scanner on the forms the pages and the code use.
#[test]
fn tags_are_read_in_their_written_forms() {
    let names = |text: &str| -> Vec<String> { tags_in(text).into_iter().map(|(t, _)| t).collect() };
    assert_eq!(names("spec/layers/fc.md (FC-3)"), ["FC-3"]);
    assert_eq!(
        names("CAP-2..CAP-5 and LSTM-9..12"),
        ["CAP-2", "CAP-3", "CAP-4", "CAP-5", "LSTM-9", "LSTM-10", "LSTM-11", "LSTM-12"]
    );
    assert_eq!(names("LSTM-P1..LSTM-P3"), ["LSTM-P1", "LSTM-P2", "LSTM-P3"]);
    assert_eq!(
        names("UTF-8, VGG-16, S-1, xFC-3, FC-3a, FC-"),
        Vec::<String>::new()
    );
    assert_eq!(
        defined_on("(PIPE-5)  N(A)[t, i] = ..."),
        Some("PIPE-5".into())
    );
    assert_eq!(defined_on("          (LOC-2) x"), Some("LOC-2".into()));
    assert_eq!(defined_on("### POOL-1: output size"), Some("POOL-1".into()));
    assert_eq!(
        defined_on("- **LSTM-P1 (sign).** With"),
        Some("LSTM-P1".into())
    );
    assert_eq!(defined_on("- PIPE-5: `normalize_over_clip`"), None);
    assert_eq!(defined_on("the sum (FC-3) of"), None);
}
