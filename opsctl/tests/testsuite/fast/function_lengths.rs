//! Short functions (issue 27): none in opsctl over 80 lines, none in the
//! services and shared crates (`app/*/src`) over 100. A longer one is
//! several steps that want names of their own. Lengths come from the
//! parsed source (`syn`, with line numbers from `proc-macro2`'s span
//! locations): from the line of `fn` to the line of the closing brace, so
//! doc comments and attributes do not count and nothing is fooled by a
//! brace in a string. No function is excepted.

use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::visit::Visit;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (file relative to the repository, function, lines)
type Long = (String, String, usize);

struct Finder<'a> {
    file: &'a str,
    limit: usize,
    found: Vec<Long>,
}

impl Finder<'_> {
    fn check(&mut self, name: &syn::Ident, start: proc_macro2::Span, block: &syn::Block) {
        let first = start.start().line;
        let last = block.brace_token.span.close().end().line;
        let lines = last.saturating_sub(first) + 1;
        if lines > self.limit {
            self.found
                .push((self.file.to_owned(), name.to_string(), lines));
        }
    }
}

impl<'ast> Visit<'ast> for Finder<'_> {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.check(&f.sig.ident, f.sig.span(), &f.block);
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.check(&f.sig.ident, f.sig.span(), &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.check(&f.sig.ident, f.sig.span(), block);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

fn long_functions(dirs: &[PathBuf], limit: usize) -> (usize, Vec<Long>) {
    let root = repo().canonicalize().expect("repository");
    let mut files = Vec::new();
    for dir in dirs {
        sources(dir, &mut files);
    }
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source");
        let parsed = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        let name = file
            .canonicalize()
            .expect("source")
            .strip_prefix(&root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| file.display().to_string());
        let mut finder = Finder {
            file: &name,
            limit,
            found: Vec::new(),
        };
        finder.visit_file(&parsed);
        found.extend(finder.found);
    }
    (files.len(), found)
}

fn app_sources() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for group in ["app", "app/shared"] {
        let Ok(entries) = std::fs::read_dir(repo().join(group)) else {
            continue;
        };
        for entry in entries.flatten() {
            let src = entry.path().join("src");
            if src.is_dir() {
                dirs.push(src);
            }
        }
    }
    dirs
}

fn refuse(found: Vec<Long>, limit: usize) {
    let over: Vec<String> = found
        .iter()
        .map(|(file, name, lines)| format!("{file}: `{name}` has {lines} lines (limit {limit})"))
        .collect();
    assert!(
        over.is_empty(),
        "split these into named steps:\n{}",
        over.join("\n")
    );
}

#[test]
fn no_opsctl_function_is_over_80_lines() {
    let (files, found) = long_functions(&[repo().join("opsctl/src")], 80);
    assert!(files > 100, "{files} opsctl sources read");
    refuse(found, 80);
}

#[test]
fn no_service_or_shared_crate_function_is_over_100_lines() {
    let dirs = app_sources();
    assert!(dirs.len() >= 20, "{} app crates", dirs.len());
    let (files, found) = long_functions(&dirs, 100);
    assert!(files > 80, "{files} app sources read");
    refuse(found, 100);
}

#[test]
fn a_long_function_is_found_and_a_short_one_is_not() {
    let body = (0..90)
        .map(|i| format!("    let _x{i} = {i};\n"))
        .collect::<String>();
    let text = format!(
        "fn short() {{ let s = \"}}\"; }}\nimpl A {{\n    fn long() {{\n{body}    }}\n}}\n"
    );
    let parsed = syn::parse_file(&text).expect("parses");
    let mut finder = Finder {
        file: "t.rs",
        limit: 80,
        found: Vec::new(),
    };
    finder.visit_file(&parsed);
    assert_eq!(finder.found, vec![("t.rs".into(), "long".into(), 92)]);
}
