//! Helpers shared by the integration tests.

/// Checks `$grad` (a generated `f_grad`) against central finite differences of
/// `$f` at a point, with every parameter differentiated, and checks that the
/// value `$grad` returns is exactly `$f`'s; then `$jvp` (`f_jvp`) along a
/// direction, against the central difference of `$f` along it.
#[macro_export]
macro_rules! check {
    ($f:path, $grad:path, $jvp:path, ($($arg:ident),+) at $point:expr) => {
        $crate::check!($f, $grad, $jvp, ($($arg),+) at $point, within 1e-6)
    };
    ($f:path, $grad:path, $jvp:path, ($($arg:ident),+) at $point:expr, within $tol:expr) => {{
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
        let direction: Vec<_> = point.iter().enumerate().map(|(i, p)| *p * 0.0 + [0.7, -1.3, 0.4, 1.1][i % 4]).collect();
        let jvp = |p: &[_], v: &[_]| {
            let &[$($arg),+] = p else { unreachable!() };
            let mut k = 0;
            let (y, t) = $jvp($($arg,)+ $({ let _ = stringify!($arg); k += 1; v[k - 1] }),+);
            assert_eq!(y, $f($($arg),+), "{}: value differs from the primal", stringify!($jvp));
            vec![t]
        };
        if let Err(report) = autodiff::GradCheck::new().tolerance($tol).check_jvp(|p| vec![value(p)], jvp, point, &direction) {
            panic!("{} at {:?} along {:?}: {report}", stringify!($jvp), point, direction);
        }
    }};
}
