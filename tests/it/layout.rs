//! The crate's layout rules, checked on its source: each type's inherent `impl` in one
//! file (what a type does has one answer), a file over 600 lines only with a module doc
//! that says why it stays whole, dependencies between modules that point one way (no
//! module imports, directly or through others, from a module that imports it), and a crate
//! root with a few names, none of them one of axum's extractors. One concern per file is
//! for a reader to judge. The methods that `socket/methods.rs` writes once for the socket
//! and its halves are macros invoked beside each type's own impl, and count as part of it.
//!
//! Imports are read from `use` declarations and from paths written out in code
//! (`crate::a::B`, `super::b`), with comments and `#[cfg(test)]` modules left out. A name
//! that a module re-exports (`pub use`, `pub(crate) use`) counts as an import of the module
//! that defines it, and a `mod` declaration as an import of the declared module.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

/// Past this many lines a file's module doc must say why it stays whole.
const LONG: usize = 600;

/// A source file: its module path (`""` for the crate root) and its code.
struct Module {
    path: String,
    code: String,
    /// Submodules it declares.
    children: Vec<String>,
    /// Names it re-exports, and the path each comes from.
    reexports: BTreeMap<String, String>,
}

fn modules() -> BTreeMap<String, Module> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    let mut modules = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap().with_extension("");
        let mut parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
            parts.pop();
        }
        let path = parts.join("::");
        let text = fs::read_to_string(&file).unwrap();
        let code = strip(&text);
        let mut module = Module {
            path: path.clone(),
            children: Vec::new(),
            reexports: BTreeMap::new(),
            code,
        };
        for statement in statements(&module.code) {
            let words: Vec<&str> = statement.split_whitespace().collect();
            if let Some(i) = words.iter().position(|w| *w == "mod") {
                if let Some(name) = words.get(i + 1) {
                    module
                        .children
                        .push(join(&path, name.trim_end_matches(';')));
                }
            }
            if let Some(tree) = statement.split_once("use ").map(|(_, t)| t) {
                if statement.trim_start().starts_with("pub") {
                    for full in expand(tree) {
                        let name = full.rsplit("::").next().unwrap().to_owned();
                        module.reexports.insert(name, full);
                    }
                }
            }
        }
        modules.insert(path, module);
    }
    modules
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}::{child}")
    }
}

/// The code without comments and without its `#[cfg(test)]` module.
fn strip(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `use` and `mod` declarations, each as one string up to its `;`.
fn statements(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in code.lines() {
        let trimmed = line.trim_start();
        let starts = ["use ", "pub use ", "pub(crate) use ", "mod ", "pub mod "]
            .iter()
            .any(|p| trimmed.starts_with(p));
        if current.is_none() && starts {
            current = Some(String::new());
        }
        if let Some(statement) = current.as_mut() {
            statement.push_str(trimmed);
            statement.push(' ');
            if trimmed.trim_end().ends_with(';') {
                out.push(current.take().unwrap());
            }
        }
    }
    out
}

/// The full paths a use tree names: `a::{b, c::{d, e}}` gives `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    // Renames (`a as b`) keep the original name: mark them before dropping the spaces.
    let tree: String = tree
        .replace(" as ", "@")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ';')
        .collect();
    let mut out = Vec::new();
    expand_into("", &tree, &mut out);
    out
}

fn expand_into(prefix: &str, tree: &str, out: &mut Vec<String>) {
    for item in split_top(tree) {
        match item.find('{') {
            Some(open) => {
                let head = item[..open].trim_end_matches("::");
                let inner = &item[open + 1..item.len() - 1];
                expand_into(&join_path(prefix, head), inner, out);
            }
            None => match item.split('@').next().unwrap() {
                "" => {}
                "self" => out.push(prefix.to_owned()),
                name => out.push(join_path(prefix, name)),
            },
        }
    }
}

fn join_path(prefix: &str, item: &str) -> String {
    match (prefix.is_empty(), item.is_empty()) {
        (true, _) => item.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}::{item}"),
    }
}

/// Splits at the commas that are not inside braces.
fn split_top(tree: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in tree.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..]);
    parts
}

/// The module that `path` (relative to module `from`) refers to, if it is in this crate:
/// the longest prefix that is a module, with re-exported names followed to their source.
fn resolve(modules: &BTreeMap<String, Module>, from: &str, path: &str) -> Option<String> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let mut base: Vec<String> = match *segments.first()? {
        "crate" => Vec::new(),
        "super" => {
            let mut parent: Vec<String> = from.split("::").map(str::to_owned).collect();
            while segments.first() == Some(&"super") {
                parent.pop();
                segments.remove(0);
            }
            segments.insert(0, "super");
            parent
        }
        "self" => from.split("::").map(str::to_owned).collect(),
        _ => return None,
    };
    base.retain(|s| !s.is_empty());
    let mut current = base.join("::");
    for segment in &segments[1..] {
        let next = join(&current, segment);
        if modules.contains_key(&next) {
            current = next;
            continue;
        }
        // A re-exported name: follow it to where it comes from.
        let module = &modules[&current];
        if let Some(source) = module.reexports.get(*segment) {
            let source = if source.starts_with("crate") || source.starts_with("super") {
                source.clone()
            } else {
                format!("self::{source}")
            };
            if let Some(found) = resolve(modules, &current, &source) {
                return Some(found);
            }
        }
        break;
    }
    Some(current)
}

/// Every module's imports of other modules of the crate.
fn imports(modules: &BTreeMap<String, Module>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for module in modules.values() {
        let mut targets = BTreeSet::new();
        let mut paths = Vec::new();
        for statement in statements(&module.code) {
            if let Some((_, tree)) = statement.split_once("use ") {
                paths.extend(expand(tree));
            }
        }
        // Paths written out in code, outside `use` declarations.
        for root in ["crate::", "super::"] {
            let mut rest = module.code.as_str();
            while let Some(at) = rest.find(root) {
                let before = rest[..at].chars().last();
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(tail.len());
                let path = tail[..end].trim_end_matches(':');
                // A bare `crate::{` opens a use tree, read above.
                let bare = !path.contains("::");
                if !bare && !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    paths.push(path.to_owned());
                }
                rest = &tail[end.max(1)..];
            }
        }
        for path in paths {
            let relative = if path.starts_with("crate") || path.starts_with("super") {
                path
            } else if module
                .children
                .iter()
                .any(|c| path.split("::").next() == c.rsplit("::").next())
            {
                format!("self::{path}")
            } else {
                continue;
            };
            if let Some(target) = resolve(modules, &module.path, &relative) {
                if target != module.path {
                    targets.insert(target);
                }
            }
        }
        targets.extend(module.children.iter().cloned());
        graph.insert(module.path.clone(), targets);
    }
    graph
}

/// The first import cycle in `graph`, as `a -> b -> a`, found depth first.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<String> {
        if done.contains(node) {
            return None;
        }
        if let Some(at) = stack.iter().position(|n| *n == node) {
            return Some(format!("{} -> {node}", stack[at..].join(" -> ")));
        }
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_source_file_is_long_and_no_modules_import_each_other() {
    let modules = modules();
    assert!(modules.len() > 20, "found only {} modules", modules.len());
    let graph = imports(&modules);
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {cycle}\n{graph:#?}");
    }
}

/// The import graph between the crate's folders and top-level files: each module counts as
/// its top-level module (`socket::read::reader` as `socket`), imports within one are left
/// out.
fn folders(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |path: &str| path.split("::").next().unwrap_or("").to_owned();
    let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in graph {
        let entry = folders.entry(top(from)).or_default();
        for target in targets {
            if top(target) != top(from) && !top(from).is_empty() {
                entry.insert(top(target));
            }
        }
    }
    folders
}

#[test]
fn no_two_folders_import_each_other() {
    let graph = folders(&imports(&modules()));
    if let Some(cycle) = find_cycle(&graph) {
        panic!("folders import each other: {cycle}\n{graph:#?}");
    }
    // The checker sees a loop between two folders through files deep inside them.
    let mut looped = imports(&modules());
    looped
        .get_mut("topics::hub")
        .unwrap()
        .insert("handshake".to_owned());
    looped
        .get_mut("handshake::info")
        .unwrap()
        .insert("topics::registry".to_owned());
    assert!(find_cycle(&folders(&looped)).is_some());
}

#[test]
fn the_checker_sees_a_cycle_and_a_use_tree() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph
                .entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
            graph.entry((*to).to_owned()).or_default();
        }
        graph
    };
    // A diamond has no cycle; a long way round, or a module and its child, do.
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])),
        None
    );
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "d"), ("d", "b")])).as_deref(),
        Some("b -> c -> d -> b")
    );
    assert_eq!(
        find_cycle(&graph(&[
            ("socket", "socket::reader"),
            ("socket::reader", "socket")
        ]))
        .as_deref(),
        Some("socket -> socket::reader -> socket")
    );
    // And on the crate's own graph, with one import added that closes a loop.
    let mut crate_graph = imports(&modules());
    assert_eq!(find_cycle(&crate_graph), None);
    crate_graph
        .get_mut("text")
        .unwrap()
        .insert("socket".to_owned());
    assert!(find_cycle(&crate_graph).is_some());
    assert_eq!(
        expand("crate::{a::B, c::{self, D as E}};"),
        ["crate::a::B", "crate::c", "crate::c::D"]
    );
    assert_eq!(
        strip("use a; // crate::x\n#[cfg(test)]\nmod tests {}"),
        "use a; "
    );
}

/// The names at the crate root: the types every user names. Everything else lives in a
/// module (`service`, `session`, `socket`, `stats`, `topics`, `deflate`, `redis`, ...).
const ROOT: [&str; 15] = [
    "CloseCode",
    "CloseFrame",
    "Decision",
    "Echo",
    "Error",
    "Handler",
    "Handshake",
    "Message",
    "ProtocolError",
    "RecvHalf",
    "SendHalf",
    "Topics",
    "Utf8Bytes",
    "WebSocket",
    "WebSocketLayer",
];

#[test]
fn the_root_exports_a_few_names_that_axums_extractors_do_not_use() {
    let modules = modules();
    let root: BTreeSet<&str> = modules[""].reexports.keys().map(String::as_str).collect();
    assert_eq!(root, BTreeSet::from(ROOT));
}

/// Every root name, resolved with axum's extractors glob-imported beside the crate's root:
/// a name both export would be ambiguous here, and this would not compile.
#[allow(dead_code)]
#[deny(ambiguous_glob_imports)]
mod no_clash_with_axum {
    use axum::extract::*;
    use tower_websockets::*;

    #[allow(clippy::too_many_arguments)]
    fn names(
        _: CloseCode,
        _: CloseFrame,
        _: Decision,
        _: Echo,
        _: Error,
        _: Handshake,
        _: Message,
        _: ProtocolError,
        _: RecvHalf,
        _: SendHalf,
        _: Topics,
        _: Utf8Bytes,
        _: WebSocket,
        _: WebSocketLayer,
    ) {
    }

    fn handler<H: Handler>() {}

    // And axum's own names still mean axum's.
    fn extractors(_: State<()>, _: Path<String>, _: Query<()>, _: Request) {}
}

/// Every source file under `src/`: its path from the crate's root, and its text.
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&root.join("src"), &mut files);
    files
        .into_iter()
        .map(|file| {
            let text = fs::read_to_string(&file).unwrap();
            let name = file.strip_prefix(root).unwrap().display().to_string();
            (name, text)
        })
        .collect()
}

/// The files over [`LONG`] lines whose module doc does not say why they stay whole (a
/// line of it that says the file is kept "in one file").
fn long_without_a_reason(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(_, text)| text.lines().count() > LONG)
        .filter(|(_, text)| {
            !text
                .lines()
                .take_while(|line| line.starts_with("//!"))
                .any(|line| line.contains("in one file"))
        })
        .map(|(name, text)| format!("{name} ({} lines)", text.lines().count()))
        .collect()
}

/// Each type with an inherent impl (`impl Type { .. }`, not `impl Trait for Type`) in more
/// than one file, with those files. Comments, unit tests and macros' `impl $ty` are left
/// out.
fn spread_impls(files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut places: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, text) in files {
        for line in strip(text).lines() {
            let Some(rest) = line.trim_start().strip_prefix("impl") else {
                continue;
            };
            if line.contains(" for ") || !line.trim_end().ends_with('{') {
                continue;
            }
            // Past the impl's own generics, if any.
            let rest = match rest.strip_prefix('<') {
                Some(generics) => {
                    let mut depth = 1;
                    let end = generics
                        .char_indices()
                        .find(|&(_, c)| {
                            depth += match c {
                                '<' => 1,
                                '>' => -1,
                                _ => 0,
                            };
                            depth == 0
                        })
                        .map_or(generics.len(), |(i, _)| i + 1);
                    &generics[end..]
                }
                None => rest,
            };
            let ty: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if ty.starts_with(|c: char| c.is_uppercase()) {
                places.entry(ty).or_default().insert(name.clone());
            }
        }
    }
    places.retain(|_, files| files.len() > 1);
    places
}

#[test]
fn each_types_inherent_impl_is_in_one_file_and_long_files_say_why() {
    let files = sources();
    let spread = spread_impls(&files);
    assert!(
        spread.is_empty(),
        "inherent impls in several files: {spread:#?}"
    );
    assert_eq!(long_without_a_reason(&files), Vec::<String>::new());
}

#[test]
fn the_checkers_see_a_spread_impl_and_a_long_file() {
    let file = |name: &str, text: &str| (name.to_owned(), text.to_owned());
    let files = [
        file(
            "a.rs",
            "impl<T: Clone> Queue<T> {\n}\nimpl Default for Writer {\n}\nimpl Reader {\n}",
        ),
        file(
            "b.rs",
            "impl<T> Queue<T> {\n}\n// impl Reader {\nimpl $ty {\n}",
        ),
        file("c.rs", "impl Writer {\n}"),
    ];
    let spread = spread_impls(&files);
    assert_eq!(spread.keys().collect::<Vec<_>>(), ["Queue"]);
    assert_eq!(
        spread["Queue"],
        BTreeSet::from(["a.rs".to_owned(), "b.rs".to_owned()])
    );

    let long = "fn f() {}\n".repeat(LONG + 1);
    let explained = format!("//! A parser, kept in one file: one state machine.\n{long}");
    let files = [file("long.rs", &long), file("explained.rs", &explained)];
    assert_eq!(
        long_without_a_reason(&files),
        [format!("long.rs ({} lines)", LONG + 1)]
    );
}
