//! The runtime's modules form layers: each uses only modules below it. This
//! reads the sources and fails on any import cycle between modules, naming it.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

/// Module name (`transport` for everything under `transport/`) -> source text.
fn sources() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).expect("under src");
            let top = relative.components().next().expect("a component").as_os_str().to_string_lossy();
            let module = top.trim_end_matches(".rs").to_owned();
            if module == "lib" {
                continue;
            }
            let text = fs::read_to_string(&path).expect("source");
            // Unit tests may reach anywhere.
            let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default().to_owned();
            modules.entry(module).or_insert_with(String::new).push_str(&text);
        }
    }
    modules
}

/// The modules each module names, through `crate::x` paths or `use crate::{x, ..}` lists.
fn edges(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for (module, text) in modules {
        let mut uses = BTreeSet::new();
        // Every `crate::` path, and every name at the top level of a `use crate::{..}` list.
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            if let Some(list) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut item = String::new();
                for c in list.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            uses.insert(first_segment(&item));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        item.push(c);
                    }
                }
                uses.insert(first_segment(&item));
            } else {
                uses.insert(first_segment(rest));
            }
        }
        uses.retain(|used| modules.contains_key(used) && used != module);
        graph.insert(module.clone(), uses);
    }
    graph
}

fn first_segment(path: &str) -> String {
    path.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

#[test]
fn runtime_modules_import_each_other_without_cycles() {
    let graph = edges(&sources());
    assert!(graph.len() > 10, "found the modules: {graph:?}");
    // Depth-first search for a back edge.
    fn visit<'a>(
        module: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(module) {
            return;
        }
        if let Some(start) = path.iter().position(|m| *m == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module);
            panic!("import cycle: {}", cycle.join(" -> "));
        }
        path.push(module);
        for used in &graph[module] {
            visit(used, graph, path, done);
        }
        path.pop();
        done.insert(module);
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
}
