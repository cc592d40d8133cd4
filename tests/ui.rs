//! Compile errors: each unsupported construct, one diagnostic per file,
//! grouped by folder. Bless with `TRYBUILD=overwrite` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/unsupported/*.rs");
    t.compile_fail("tests/ui/signature/*.rs");
    t.compile_fail("tests/ui/rules/[!i]*.rs");
    t.pass("tests/ui/rules/inactive_no_rule_is_fine.rs");
    t.compile_fail("tests/ui/second_order/[!i]*.rs");
    t.pass("tests/ui/second_order/inactive_control_flow_is_fine.rs");
}
