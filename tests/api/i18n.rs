//! The message catalogues (web/i18n/en.js, de.js) against each other and against the code that
//! uses them: the same keys in both, the same `{placeholders}` per key, plural entries with an
//! `other` form, and every `t('key')` in web/ present. Read as text (one entry a line, as the
//! catalogues are written), so no JavaScript engine is needed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn web() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// One catalogue: key → the entry's source text (a quoted string or a `{ one: …, other: … }`).
fn catalogue(lang: &str) -> BTreeMap<String, String> {
    let path = web().join("i18n").join(format!("{lang}.js"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut entries = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix('\'') else { continue };
        let Some((key, value)) = rest.split_once("': ") else { continue };
        let previous = entries.insert(key.to_owned(), value.trim_end_matches(',').to_owned());
        assert!(previous.is_none(), "{lang}.js has {key} twice");
    }
    assert!(entries.len() > 100, "{lang}.js: only {} entries read; is it still one entry a line?", entries.len());
    entries
}

/// The `{name}` placeholders of an entry (all its plural forms together).
fn placeholders(value: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = value;
    while let Some(start) = rest.find('{') {
        rest = &rest[start + 1..];
        let end = rest.find('}').unwrap_or(0);
        let name = &rest[..end];
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.insert(name.to_owned());
        }
    }
    out
}

/// Every .js file of the pages (the client package and the catalogues themselves excluded).
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read web/").flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("client") && !path.ends_with("i18n") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "js") {
            out.push(path);
        }
    }
}

/// The keys the code looks up: literal `t('key'` calls, and the prefixes of template keys
/// (`t(`role.${r}`)`), which must each match at least one entry.
fn used_keys() -> (BTreeMap<String, PathBuf>, BTreeMap<String, PathBuf>) {
    let mut files = Vec::new();
    sources(&web(), &mut files);
    let mut literal = BTreeMap::new();
    let mut prefixes = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        for (i, _) in text.match_indices("t(") {
            // `t(` as a call of its own, not the end of another name (`split(`, `set(`).
            if text[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let rest = &text[i + 2..];
            if let Some(quoted) = rest.strip_prefix('\'') {
                if let Some(end) = quoted.find('\'') {
                    literal.insert(quoted[..end].to_owned(), file.clone());
                }
            } else if let Some(template) = rest.strip_prefix('`')
                && let Some(end) = template.find("${")
            {
                prefixes.insert(template[..end].to_owned(), file.clone());
            }
        }
    }
    (literal, prefixes)
}

#[test]
fn english_and_german_have_the_same_keys_and_placeholders() {
    let en = catalogue("en");
    let de = catalogue("de");
    let only_en: Vec<_> = en.keys().filter(|k| !de.contains_key(*k)).collect();
    let only_de: Vec<_> = de.keys().filter(|k| !en.contains_key(*k)).collect();
    assert!(only_en.is_empty(), "missing in de.js: {only_en:?}");
    assert!(only_de.is_empty(), "missing in en.js: {only_de:?}");
    for (key, value) in &en {
        let other = &de[key];
        assert_eq!(placeholders(value), placeholders(other), "placeholders of {key} differ");
        for (lang, v) in [("en", value), ("de", other)] {
            if v.starts_with('{') {
                assert!(v.contains("other:"), "{lang}.js: the plural entry {key} has no `other` form");
                assert!(placeholders(v).contains("count"), "{lang}.js: the plural entry {key} does not show {{count}}");
            } else {
                assert!(
                    v.starts_with('\'') && v.ends_with('\''),
                    "{lang}.js: {key} is neither a string nor plural forms: {v}"
                );
                assert!(v.len() > 2, "{lang}.js: {key} is empty");
            }
        }
    }
}

#[test]
fn every_key_the_pages_use_is_in_the_catalogues() {
    let en = catalogue("en");
    let (literal, prefixes) = used_keys();
    assert!(literal.len() > 100, "only {} t('…') calls found in web/", literal.len());
    let missing: Vec<_> =
        literal.iter().filter(|(k, _)| !en.contains_key(*k)).map(|(k, f)| format!("{k} ({})", f.display())).collect();
    assert!(missing.is_empty(), "used but not in en.js: {missing:?}");
    for (prefix, file) in prefixes {
        assert!(en.keys().any(|k| k.starts_with(&prefix)), "no entry for t(`{prefix}${{…}}`) in {}", file.display());
    }
}

#[test]
fn the_placeholder_reader_finds_names_and_only_names() {
    assert_eq!(placeholders("'{a} and {b_2}, not { x } or {}'"), BTreeSet::from(["a".to_owned(), "b_2".to_owned()]));
}
