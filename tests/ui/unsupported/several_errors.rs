use autodiff::differentiable;

// Every unsupported construct of a body is reported in one compile.
#[differentiable]
fn f(x: f64, mode: u8) -> f64 {
    let a = match mode {
        0 => x,
        _ => 1.0,
    };
    let b = unsafe { x.sin() };
    let c = (|v: f64| v)(x);
    a + b + c
}

fn main() {}
