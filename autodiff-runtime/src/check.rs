//! The derivative checker: a gradient, or a directional derivative, against
//! central finite differences.

use core::fmt;

use crate::Real;

/// How a gradient compares with central finite differences.
///
/// The error of coordinate `i` is `|analytic_i - numeric_i| / scale_i` with
/// `scale_i = max(|analytic_i|, |numeric_i|, floor)`; `floor` is
/// `1e-3 · max_j |numeric_j|` (and at least `1e-12`), so a coordinate much
/// smaller than the largest is judged against the largest, as a finite
/// difference cannot resolve it relatively.
#[derive(Debug, Clone, PartialEq)]
pub struct GradReport {
    /// The gradient under test.
    pub analytic: Vec<f64>,
    /// Central finite differences.
    pub numeric: Vec<f64>,
    /// The largest error over the coordinates.
    pub worst_error: f64,
    /// The coordinate where it occurs.
    pub worst_coordinate: usize,
    /// The tolerance the check used.
    pub tolerance: f64,
}

impl GradReport {
    /// Whether every coordinate is within the tolerance.
    pub fn passed(&self) -> bool {
        self.worst_error <= self.tolerance
    }
}

impl fmt::Display for GradReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.worst_coordinate;
        write!(
            f,
            "worst relative error {:.3e} (tolerance {:.1e}) at coordinate {i}: gradient {:.12e}, finite difference {:.12e}",
            self.worst_error,
            self.tolerance,
            self.analytic.get(i).copied().unwrap_or(f64::NAN),
            self.numeric.get(i).copied().unwrap_or(f64::NAN),
        )
    }
}

impl std::error::Error for GradReport {}

/// Options of a gradient check; [`check_grad`] uses the defaults.
///
/// # Example
///
/// ```
/// use autodiff_runtime::GradCheck;
///
/// let f = |x: &[f64]| x[0].sin() * x[1];
/// let grad = |x: &[f64]| vec![x[0].cos() * x[1], x[0].sin()];
/// let report = GradCheck::new().tolerance(1e-8).check(f, grad, &[0.5, 2.0]).unwrap();
/// assert!(report.worst_error < 1e-8);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct GradCheck {
    tolerance: Option<f64>,
    step: Option<f64>,
}

impl Default for GradCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl GradCheck {
    /// Default options: tolerance `1e-6` in `f64` and `1e-2` in `f32`; step
    /// `ε^(1/3) · max(1, |x_i|)` per coordinate, which balances the truncation
    /// error of central differences against rounding.
    pub fn new() -> Self {
        GradCheck {
            tolerance: None,
            step: None,
        }
    }

    /// The largest relative error accepted.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = Some(tolerance);
        self
    }

    /// A relative step: coordinate `i` moves by `step · max(1, |x_i|)`.
    pub fn step(mut self, step: f64) -> Self {
        self.step = Some(step);
        self
    }

    /// Compares `grad(x)` with central finite differences of `f` at `x`.
    ///
    /// Returns the report in `Ok` when the worst error is within the
    /// tolerance and in `Err` otherwise; a gradient of the wrong length or a
    /// non-finite value is an `Err` too.
    pub fn check<T, F, G>(&self, f: F, grad: G, x: &[T]) -> Result<GradReport, GradReport>
    where
        T: Real,
        F: Fn(&[T]) -> T,
        G: Fn(&[T]) -> Vec<T>,
    {
        let eps = T::EPSILON.to_f64();
        let tolerance = self.tolerance.unwrap_or(if eps < 1e-10 { 1e-6 } else { 1e-2 });
        let step = self.step.unwrap_or(eps.cbrt());

        let analytic: Vec<f64> = grad(x).into_iter().map(Real::to_f64).collect();
        let mut point = x.to_vec();
        let numeric: Vec<f64> = (0..x.len())
            .map(|i| {
                let xi = x[i];
                // Round the step so that x + h - (x - h) is exactly 2h in T.
                let h = T::from_f64(step * xi.to_f64().abs().max(1.0));
                let (up, down) = (xi + h, xi - h);
                point[i] = up;
                let f_up = f(&point);
                point[i] = down;
                let f_down = f(&point);
                point[i] = xi;
                (f_up - f_down).to_f64() / (up - down).to_f64()
            })
            .collect();

        compare(analytic, numeric, tolerance)
    }

    /// Compares `jvp(x, v)`, the derivative of the vector function `f` at `x`
    /// along `v` (a Jacobian-vector product, one entry per output), with the
    /// central difference `(f(x + h v) - f(x - h v)) / 2h`.
    ///
    /// The step is the relative step times `max(1, max |x_i|) / max |v_i|`.
    /// A Hessian-vector product is checked as the directional derivative of
    /// the gradient: `check_jvp(grad, hvp, x, v)`.
    ///
    /// # Example
    ///
    /// ```
    /// use autodiff_runtime::GradCheck;
    ///
    /// let f = |x: &[f64]| vec![x[0] * x[1], x[0].sin()];
    /// let jvp = |x: &[f64], v: &[f64]| vec![v[0] * x[1] + x[0] * v[1], x[0].cos() * v[0]];
    /// assert!(GradCheck::new().check_jvp(f, jvp, &[0.5, 2.0], &[1.0, -0.3]).is_ok());
    /// ```
    pub fn check_jvp<T, F, J>(&self, f: F, jvp: J, x: &[T], v: &[T]) -> Result<GradReport, GradReport>
    where
        T: Real,
        F: Fn(&[T]) -> Vec<T>,
        J: Fn(&[T], &[T]) -> Vec<T>,
    {
        let eps = T::EPSILON.to_f64();
        let tolerance = self.tolerance.unwrap_or(if eps < 1e-10 { 1e-6 } else { 1e-2 });
        let step = self.step.unwrap_or(eps.cbrt());
        let largest = |p: &[T]| p.iter().fold(0.0f64, |m, e| m.max(e.to_f64().abs()));
        let h = step * largest(x).max(1.0) / largest(v).max(f64::MIN_POSITIVE);
        let moved = |sign: f64| -> Vec<T> {
            x.iter()
                .zip(v)
                .map(|(&xi, &vi)| xi + T::from_f64(sign * h * vi.to_f64()))
                .collect()
        };
        let (up, down) = (f(&moved(1.0)), f(&moved(-1.0)));
        let numeric = up
            .iter()
            .zip(&down)
            .map(|(u, d)| (*u - *d).to_f64() / (2.0 * h))
            .collect();
        let analytic = jvp(x, v).into_iter().map(Real::to_f64).collect();
        compare(analytic, numeric, tolerance)
    }
}

/// The report of `analytic` against `numeric`, `Ok` within the tolerance.
fn compare(analytic: Vec<f64>, numeric: Vec<f64>, tolerance: f64) -> Result<GradReport, GradReport> {
    let mut report = GradReport {
        worst_error: 0.0,
        worst_coordinate: 0,
        tolerance,
        analytic,
        numeric,
    };
    if report.analytic.len() != report.numeric.len() {
        report.worst_error = f64::INFINITY;
        return Err(report);
    }
    let largest = report.numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let floor = (1e-3 * largest).max(1e-12);
    for (i, (a, n)) in report.analytic.iter().zip(&report.numeric).enumerate() {
        let error = if a.is_finite() && n.is_finite() {
            (a - n).abs() / a.abs().max(n.abs()).max(floor)
        } else {
            f64::INFINITY
        };
        if error > report.worst_error || (error.is_nan() && !report.worst_error.is_nan()) {
            report.worst_error = error;
            report.worst_coordinate = i;
        }
    }
    if report.passed() {
        Ok(report)
    } else {
        Err(report)
    }
}

/// Compares `jvp(x, v)` with the central difference of `f` along `v`, with
/// the default options of [`GradCheck::new`] (see [`GradCheck::check_jvp`]).
pub fn check_jvp<T, F, J>(f: F, jvp: J, x: &[T], v: &[T]) -> Result<GradReport, GradReport>
where
    T: Real,
    F: Fn(&[T]) -> Vec<T>,
    J: Fn(&[T], &[T]) -> Vec<T>,
{
    GradCheck::new().check_jvp(f, jvp, x, v)
}

/// Compares `hvp(x, v)`, a Hessian-vector product, with the central
/// difference of `grad` along `v`, with the default options.
///
/// # Example
///
/// ```
/// use autodiff_runtime::check_hvp;
///
/// // f = x0² x1: H = [[2 x1, 2 x0], [2 x0, 0]].
/// let grad = |x: &[f64]| vec![2.0 * x[0] * x[1], x[0] * x[0]];
/// let hvp = |x: &[f64], v: &[f64]| vec![2.0 * x[1] * v[0] + 2.0 * x[0] * v[1], 2.0 * x[0] * v[0]];
/// assert!(check_hvp(grad, hvp, &[1.5, -2.0], &[0.3, 1.0]).is_ok());
/// ```
pub fn check_hvp<T, G, H>(grad: G, hvp: H, x: &[T], v: &[T]) -> Result<GradReport, GradReport>
where
    T: Real,
    G: Fn(&[T]) -> Vec<T>,
    H: Fn(&[T], &[T]) -> Vec<T>,
{
    GradCheck::new().check_jvp(grad, hvp, x, v)
}

/// Compares `grad(x)` with central finite differences of `f` at `x`, with the
/// default options of [`GradCheck::new`].
///
/// # Example
///
/// ```
/// use autodiff_runtime::check_grad;
///
/// let f = |x: &[f64]| x[0] * x[0] * x[1];
/// let grad = |x: &[f64]| vec![2.0 * x[0] * x[1], x[0] * x[0]];
/// assert!(check_grad(f, grad, &[1.5, -2.0]).is_ok());
///
/// let wrong = |x: &[f64]| vec![x[0] * x[1], x[0] * x[0]];
/// let report = check_grad(f, wrong, &[1.5, -2.0]).unwrap_err();
/// assert_eq!(report.worst_coordinate, 0);
/// ```
pub fn check_grad<T, F, G>(f: F, grad: G, x: &[T]) -> Result<GradReport, GradReport>
where
    T: Real,
    F: Fn(&[T]) -> T,
    G: Fn(&[T]) -> Vec<T>,
{
    GradCheck::new().check(f, grad, x)
}
