//! Helpers shared by the integration tests.

/// Checks `$grad` (a generated `f_grad`) against central finite differences of
/// `$f` at a point, with every parameter differentiated, and checks that the
/// value `$grad` returns is exactly `$f`'s.
#[macro_export]
macro_rules! check {
    ($f:path, $grad:path, ($($arg:ident),+) at $point:expr) => {
        $crate::check!($f, $grad, ($($arg),+) at $point, within 1e-6)
    };
    ($f:path, $grad:path, ($($arg:ident),+) at $point:expr, within $tol:expr) => {{
        let point: &[_] = &$point;
        let value = |p: &[_]| {
            let &[$($arg),+] = p else { unreachable!() };
            $f($($arg),+)
        };
        let grad = |p: &[_]| {
            let &[$($arg),+] = p else { unreachable!() };
            let g = $grad($($arg),+).1;
            vec![$(g.$arg),+]
        };
        {
            let &[$($arg),+] = point else { unreachable!() };
            assert_eq!($grad($($arg),+).0, $f($($arg),+), "{}: value differs from the primal", stringify!($f));
        }
        if let Err(report) = autodiff::GradCheck::new().tolerance($tol).check(value, grad, point) {
            panic!("{} at {:?}: {report}", stringify!($f), point);
        }
    }};
}
