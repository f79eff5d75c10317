//! The shape of the code, held by a test: the modules form layers whose imports only point down
//! (or sideways, within a layer), no two files import each other even through others, and a
//! page imports no other page. `docs/ARCHITECTURE.md` draws the same layers.
//!
//! It reads every file under `src/`, finds each path that starts with `crate::`, `super::`,
//! `self::` or a child module's name (in `use` lines and in code, comments and strings left
//! out), resolves it to the file of the module it names, and checks each such import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom to top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    /// Pure rules, the one error type, the server functions' codec and the allocator (`domain`,
    /// `error`, `codec`, `allocator`).
    Foundation,
    /// Each area's shared types, in both builds (`src/<area>.rs`).
    AreaTypes,
    /// Database handle, dialect, audit, sessions, group commit, caches, clock.
    Storage,
    /// Each area's services (`src/<area>/*.rs` but its server functions and REST handlers).
    Services,
    /// What every request can reach (`state`) and the server's settings (`config`).
    State,
    /// Server functions (`<area>/api.rs`), REST handlers (`<area>/rest.rs`), the request
    /// context (`auth/context.rs`) and the HTTP plumbing (`web`).
    Web,
    Components,
    Pages,
    /// The HTML shell and the router (`app`).
    Shell,
    /// Building and running the server, the command line.
    Top,
}

/// The areas: each owns its types (`src/<area>.rs`), services, server functions and REST
/// handlers.
const AREAS: &[&str] = &[
    "account",
    "api_keys",
    "api_reference",
    "audit_log",
    "auth",
    "escalations",
    "items",
    "monitoring",
    "review",
    "users",
    "team",
    "tuning",
    "webhooks",
    "workflows",
];

/// The files of an area that face the web rather than being services.
const WEB_FILES: &[&str] = &["api", "rest", "context"];

fn layer_of(module: &[String]) -> Result<Layer, String> {
    let first = module.first().map(String::as_str).unwrap_or_default();
    Ok(match first {
        "domain" | "error" | "codec" | "allocator" => Layer::Foundation,
        "storage" => Layer::Storage,
        "state" | "config" => Layer::State,
        "web" => Layer::Web,
        "components" => Layer::Components,
        "pages" => Layer::Pages,
        "app" => Layer::Shell,
        "startup" | "cli" | "telemetry" => Layer::Top,
        area if AREAS.contains(&area) => match module.get(1) {
            None => Layer::AreaTypes,
            Some(file) if WEB_FILES.contains(&file.as_str()) => Layer::Web,
            Some(_) => Layer::Services,
        },
        other => return Err(format!("module `{other}` belongs to no layer: add it to tests/architecture.rs")),
    })
}

/// A source file: its module path (`["review", "decide"]`) and its text.
struct Source {
    module: Vec<String>,
    text: String,
}

fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.last_mut() {
        *last = last.trim_end_matches(".rs").to_owned();
    }
    parts
}

fn read_sources(root: &Path) -> Vec<Source> {
    let mut sources = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src/") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = module_of(path.strip_prefix(root).expect("under src/"));
                // The crate root and the binary only declare modules and call into them.
                if module == ["lib"] || module == ["main"] {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("read a source file");
                sources.push(Source { module, text });
            }
        }
    }
    sources.sort_by(|a, b| a.module.cmp(&b.module));
    sources
}

/// The code without comments and without the contents of string and character literals.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !chars[i.saturating_sub(1)].is_alphanumeric()
        {
            // A raw string: r"…", r#"…"#.
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 2..chars.len()).find(|&j| chars[j] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The paths of a `use` tree or an expression path at `text[at..]`: `a::b::{c, d::{e}}` gives
/// `a::b::c` and `a::b::d::e`.
fn paths_at(text: &[char], mut at: usize) -> Vec<Vec<String>> {
    fn skip_space(text: &[char], at: &mut usize) {
        while *at < text.len() && text[*at].is_whitespace() {
            *at += 1;
        }
    }
    fn tree(text: &[char], at: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut path = prefix;
        loop {
            skip_space(text, at);
            if *at < text.len() && text[*at] == '{' {
                *at += 1;
                loop {
                    skip_space(text, at);
                    if *at >= text.len() || text[*at] == '}' {
                        *at += 1;
                        return;
                    }
                    tree(text, at, path.clone(), out);
                    skip_space(text, at);
                    if *at < text.len() && text[*at] == ',' {
                        *at += 1;
                    }
                }
            }
            let start = *at;
            while *at < text.len() && is_ident(text[*at]) {
                *at += 1;
            }
            if start == *at {
                // `*`, or the end of the path.
                if *at < text.len() && text[*at] == '*' {
                    *at += 1;
                }
                out.push(path);
                return;
            }
            let segment: String = text[start..*at].iter().collect();
            if segment != "self" || path.is_empty() {
                path.push(segment);
            }
            if text.get(*at) == Some(&':') && text.get(*at + 1) == Some(&':') {
                *at += 2;
                continue;
            }
            out.push(path);
            return;
        }
    }
    let mut out = Vec::new();
    tree(text, &mut at, Vec::new(), &mut out);
    out
}

/// Every module path `code` (of the file module `module`) refers to, resolved to the longest
/// prefix that is a module of `modules`.
fn imports(module: &[String], code: &str, modules: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    // Inline modules (`mod tests { … }`) shift `super` and `self`: track them by brace depth.
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    let children: BTreeSet<String> = modules
        .iter()
        .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
        .filter_map(|m| m.last().cloned())
        .collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            depth += 1;
        } else if c == '}' {
            depth = depth.saturating_sub(1);
            while inline.last().is_some_and(|(d, _)| *d > depth) {
                inline.pop();
            }
        }
        let at_word = is_ident(c) && (i == 0 || !is_ident(chars[i - 1]) && chars[i - 1] != ':');
        if !at_word {
            i += 1;
            continue;
        }
        let word_end = (i..chars.len()).find(|&j| !is_ident(chars[j])).unwrap_or(chars.len());
        let word: String = chars[i..word_end].iter().collect();
        if word == "mod" {
            let rest: String = chars[word_end..chars.len().min(word_end + 80)].iter().collect();
            let name: String = rest.trim_start().chars().take_while(|c| is_ident(*c)).collect();
            let after = rest.trim_start()[name.len()..].trim_start().chars().next();
            if after == Some('{') {
                inline.push((depth + 1, name));
            }
            i = word_end;
            continue;
        }
        let here: Vec<String> = module.iter().cloned().chain(inline.iter().map(|(_, n)| n.clone())).collect();
        let followed_by_path = chars.get(word_end) == Some(&':') && chars.get(word_end + 1) == Some(&':');
        let base: Option<Vec<String>> = match word.as_str() {
            "crate" if followed_by_path => Some(Vec::new()),
            "super" if followed_by_path => {
                let mut base = here.clone();
                let mut at = i;
                // `super::super::…`
                while chars[at..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
                    base.pop();
                    at += 7;
                }
                i = at;
                let paths = paths_at(&chars, i);
                for path in paths {
                    found.insert(base.iter().cloned().chain(path).collect());
                }
                i += 1;
                continue;
            }
            "self" if followed_by_path => Some(here.clone()),
            // A child module named at the start of a path (`use review_view::ReviewView;`).
            name if followed_by_path && inline.is_empty() && children.contains(name) => {
                let paths = paths_at(&chars, i);
                for path in paths {
                    found.insert(module.iter().cloned().chain(path).collect());
                }
                i = word_end;
                continue;
            }
            _ => None,
        };
        match base {
            Some(base) => {
                for path in paths_at(&chars, word_end + 2) {
                    found.insert(base.iter().cloned().chain(path).collect());
                }
                i = word_end + 2;
            }
            None => i = word_end,
        }
    }
    found
        .into_iter()
        .filter_map(|path| (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p)))
        .filter(|target| target != module)
        .collect()
}

/// Every problem with the shape of `sources`, as sentences.
fn problems(sources: &[Source]) -> Vec<String> {
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let mut problems = Vec::new();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for source in sources {
        let from = source.module.join("::");
        let from_layer = match layer_of(&source.module) {
            Ok(layer) => layer,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let targets = imports(&source.module, &code_only(&source.text), &modules);
        for target in &targets {
            let to = target.join("::");
            match layer_of(target) {
                Ok(to_layer) if to_layer > from_layer => {
                    problems.push(format!("`{from}` ({from_layer:?}) imports `{to}` ({to_layer:?}), a layer above it"));
                }
                Ok(_) => {}
                Err(problem) => problems.push(problem),
            }
            let page = |m: &[String]| (m.first().map(String::as_str) == Some("pages")).then(|| m.get(1).cloned());
            if let (Some(Some(a)), Some(Some(b))) = (page(&source.module), page(target))
                && a != b
            {
                problems.push(format!("the page `{from}` imports another page, `{to}`: share it through components"));
            }
        }
        graph.insert(source.module.clone(), targets);
    }
    problems.extend(cycles(&graph));
    problems
}

/// The import cycles between files, each named once.
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        marks: &mut BTreeMap<Vec<String>, Mark>,
        stack: &mut Vec<Vec<String>>,
        found: &mut BTreeSet<String>,
    ) {
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next) {
                Some(Mark::Open) => {
                    let start = stack.iter().position(|m| m == next).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[start..].iter().map(|m| m.join("::")).collect();
                    // Named from its smallest member, so each cycle is reported once.
                    let smallest = (0..cycle.len()).min_by_key(|&i| cycle[i].clone()).unwrap_or(0);
                    cycle.rotate_left(smallest);
                    let first = cycle[0].clone();
                    cycle.push(first);
                    found.insert(format!("import cycle: {}", cycle.join(" -> ")));
                }
                Some(Mark::Done) => {}
                None => visit(next, graph, marks, stack, found),
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut found = BTreeSet::new();
    for node in graph.keys() {
        if !marks.contains_key(node) {
            visit(node, graph, &mut marks, &mut Vec::new(), &mut found);
        }
    }
    found.into_iter().collect()
}

#[test]
fn imports_only_point_down_and_no_files_import_each_other() {
    let sources = read_sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(sources.len() > 50, "found only {} source files", sources.len());
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let edges: usize = sources.iter().map(|s| imports(&s.module, &code_only(&s.text), &modules).len()).sum();
    assert!(edges > 300, "found only {edges} imports between the files: is the reader broken?");
    let problems = problems(&sources);
    assert!(problems.is_empty(), "the layers are broken:\n  {}", problems.join("\n  "));
}

fn source(module: &str, text: &str) -> Source {
    Source { module: module.split("::").map(str::to_owned).collect(), text: text.to_owned() }
}

#[test]
fn an_upward_import_fails() {
    let sources = [
        source("storage::db", "use crate::review::decide::ReviewCtx;"),
        source("review::decide", "pub struct ReviewCtx;"),
    ];
    let problems = problems(&sources);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("`storage::db` (Storage) imports `review::decide` (Services)"), "{problems:?}");
}

#[test]
fn a_cycle_fails_however_it_is_written() {
    let sources = [
        source("items::insert", "use super::view::{Ingested, ItemView};"),
        source("items::view", "fn f() { crate::items::ingest::go(); }"),
        source("items::ingest", "use crate::{items::{insert::insert_group}};"),
    ];
    let problems = problems(&sources);
    assert_eq!(problems, vec!["import cycle: items::ingest -> items::insert -> items::view -> items::ingest"]);
}

#[test]
fn comments_strings_and_test_modules_are_read_as_rust_reads_them() {
    let sources = [
        source(
            "review::claim",
            "// use crate::app::App;\n/* crate::startup::x */\nconst S: &str = \"crate::cli::run\";\n\
             const R: &str = r#\"crate::pages::x\"#;\nconst C: char = '{';\n\
             #[cfg(test)]\nmod tests { use super::*; use super::super::Receipt; }",
        ),
        source("review", "pub struct Receipt;"),
        source("app", ""),
        source("startup", ""),
        source("cli", ""),
        source("pages::x", ""),
        source("pages::a", "use crate::pages::b::Thing;"),
        source("pages::b", "pub struct Thing;"),
    ];
    let problems = problems(&sources);
    assert_eq!(problems, vec!["the page `pages::a` imports another page, `pages::b`: share it through components"]);
}
