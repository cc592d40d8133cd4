//! Snapshots of the IR and of the expansion, for review: each fixture in
//! `tests/expand/NAME.rs` is expanded to `NAME.expanded.rs` and its IR printed
//! to `NAME.ir`. A differing snapshot fails; `AUTODIFF_BLESS=1` rewrites it.

use std::fs;
use std::path::Path;

use quote::quote;

use crate::args::Args;
use crate::diagnostics::Errors;

fn check_snapshot(path: &Path, actual: &str) {
    if std::env::var_os("AUTODIFF_BLESS").is_some() {
        fs::write(path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(path).unwrap_or_default();
    assert!(
        expected == actual,
        "snapshot {} differs; rerun with AUTODIFF_BLESS=1 and review the diff\n--- actual ---\n{actual}",
        path.display()
    );
}

#[test]
fn expansion_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expand");
    let mut fixtures: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs") && !p.to_string_lossy().ends_with(".expanded.rs"))
        .collect();
    fixtures.sort();
    assert!(!fixtures.is_empty());
    for fixture in fixtures {
        let source = fs::read_to_string(&fixture).unwrap();
        let file: syn::File = syn::parse_str(&source).unwrap();
        let mut expanded = Vec::new();
        let mut ir = String::new();
        for item in file.items {
            let syn::Item::Fn(mut item) = item else { continue };
            let attr = item.attrs.iter().position(|a| a.path().is_ident("differentiable"));
            let Some(attr) = attr else { continue };
            let attr = item.attrs.remove(attr);
            let options = match &attr.meta {
                syn::Meta::List(list) => list.tokens.clone(),
                _ => quote!(),
            };
            let args = Args::parse(options.clone()).unwrap();
            let mut errors = Errors::default();
            if let Some(func) = crate::lower::lower(&item, &args, &mut errors) {
                ir.push_str(&format!("{}: {func}\n", item.sig.ident));
            }
            expanded.push(crate::expand::expand(options, quote!(#item)));
        }
        let expanded: syn::File = syn::parse2(quote!(#(#expanded)*)).unwrap();
        check_snapshot(
            &fixture.with_extension("expanded.rs"),
            &prettyplease::unparse(&expanded),
        );
        check_snapshot(&fixture.with_extension("ir"), &ir);
    }
}
