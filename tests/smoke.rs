use autodiff::prelude::*;

#[differentiable]
fn f(x: f64, y: f64) -> f64 {
    let mut s = x * y;
    if x > 0.0 {
        s += x.sin();
    } else {
        s = s * 2.0;
    }
    s.exp() / y
}

#[test]
fn smoke() {
    let (v, g) = f_grad(0.3, 1.2);
    assert_eq!(v, f(0.3, 1.2));
    let r = check_grad(|p: &[f64]| f(p[0], p[1]), |p: &[f64]| { let g = f_grad(p[0], p[1]).1; vec![g.x, g.y] }, &[0.3, 1.2]);
    println!("{r:?} {g:?}");
    assert!(r.is_ok());
}
