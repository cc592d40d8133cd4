//! The candle peer for W2 (mlp-small), W3 (mlp-big) and, with
//! `CANDLE_GRAD_DO_NOT_DETACH=1`, the second-order W4 (input-gradient
//! penalty) and W5 (Jacobian penalty): the same networks and data as the
//! benches, differentiated by candle-core's tape (`Tensor::backward`), timed
//! as medians over repeated calls on one thread.
//!
//! `cargo run --release --manifest-path peers/candle/Cargo.toml` (W2, W3);
//! `CANDLE_GRAD_DO_NOT_DETACH=1 cargo run --release --manifest-path peers/candle/Cargo.toml`
//! (W4, W5: candle differentiates a gradient again only with this variable,
//! read once per thread; without it the second-order gradient is silently
//! wrong). Prints, per workload, the value and gradient checksums (to compare
//! with WORKLOADS.md) and the median times of the objective and of value +
//! gradient.

use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor, Var};

fn data(t: usize, rows: usize, cols: usize) -> Vec<f64> {
    (0..rows * cols).map(|k| 0.3 * (0.7 * k as f64 + 1.3 * t as f64).sin()).collect()
}

/// Tensor number `t` of WORKLOADS.md, row-major, as candle stores it.
fn tensor(t: usize, rows: usize, cols: usize) -> Result<Tensor> {
    Tensor::from_vec(data(t, rows, cols), (rows, cols), &Device::Cpu)
}

struct Net {
    params: Vec<Var>,
}

impl Net {
    fn new(sizes: [usize; 4]) -> Result<Net> {
        let [i, h1, h2, o] = sizes;
        let shapes = [(h1, i), (h1, 1), (h2, h1), (h2, 1), (o, h2), (o, 1)];
        let params = shapes
            .iter()
            .enumerate()
            .map(|(t, &(r, c))| Var::from_tensor(&tensor(t, r, c)?))
            .collect::<Result<_>>()?;
        Ok(Net { params })
    }

    /// `act(W x + b)` for each layer, the last without activation.
    fn forward(&self, x: &Tensor, act: fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
        let p = &self.params;
        let h1 = act(&p[0].matmul(x)?.broadcast_add(&p[1])?)?;
        let h2 = act(&p[2].matmul(&h1)?.broadcast_add(&p[3])?)?;
        p[4].matmul(&h2)?.broadcast_add(&p[5])
    }
}

fn w2_loss(net: &Net, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let o = net.forward(x, |t| t.tanh())?;
    (o - y)?.sqr()?.mean_all()
}

fn w3_loss(net: &Net, x: &Tensor, onehot: &Tensor) -> Result<Tensor> {
    let z = net.forward(x, |t| t.relu())?;
    let m = z.max_keepdim(0)?;
    let lse = (z.broadcast_sub(&m)?.exp()?.sum_keepdim(0)?.log()? + m)?;
    let logp = z.broadcast_sub(&lse)?;
    let batch = z.dims()[1] as f64;
    (logp * onehot)?.sum_all()?.affine(-1.0 / batch, 0.0)
}

/// W4: `L + 0.1 ‖dL/dX‖²`, with `dL/dX` from a first backward pass that
/// keeps its graph.
fn w4_objective(net: &Net, x: &Var, y: &Tensor, act: fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let o = net.forward(x.as_tensor(), act)?;
    let l = (o - y)?.sqr()?.mean_all()?;
    let g = l.backward()?;
    let gx = g.get(x.as_tensor()).expect("dL/dX");
    l + gx.sqr()?.sum_all()?.affine(0.1, 0.0)?
}

/// W5: `Σ_i ‖J_fᵀ e_i‖²` over the output rows, one backward pass per row.
fn w5_objective(net: &Net, x: &Var, act: fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let o = net.forward(x.as_tensor(), act)?;
    let (rows, batch) = o.dims2()?;
    let mut total: Option<Tensor> = None;
    for i in 0..rows {
        let mut seed = vec![0.0; rows * batch];
        seed[i * batch..(i + 1) * batch].iter_mut().for_each(|v| *v = 1.0);
        let seed = Tensor::from_vec(seed, (rows, batch), &Device::Cpu)?;
        let g = (&o * seed)?.sum_all()?.backward()?;
        let row = g.get(x.as_tensor()).expect("Jᵀ e_i").sqr()?.sum_all()?;
        total = Some(match total {
            None => row,
            Some(t) => (t + row)?,
        });
    }
    Ok(total.expect("rows"))
}

fn median_us(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..runs.min(10) {
        f()?;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[runs / 2])
}

fn report(name: &str, net: &Net, loss: impl Fn() -> Result<Tensor>, runs: usize) -> Result<()> {
    let value = loss()?.to_scalar::<f64>()?;
    let grads = loss()?.backward()?;
    let (mut sum, mut abs) = (0.0, 0.0);
    // A parameter the objective does not depend on (W5's last bias) has none.
    for g in net.params.iter().filter_map(|p| grads.get(p.as_tensor())) {
        for v in g.flatten_all()?.to_vec1::<f64>()? {
            sum += v;
            abs += v.abs();
        }
    }
    let objective = median_us(runs, || loss().map(drop))?;
    let gradient = median_us(runs, || {
        let l = loss()?;
        let grads = l.backward()?;
        for p in &net.params {
            let _ = grads.get(p.as_tensor());
        }
        Ok(())
    })?;
    println!(
        "{name}: value {value:.10} gradient sum {sum:.10} abs sum {abs:.10}\n{name}: objective {objective:.1} us, value+gradient {gradient:.1} us (medians of {runs}), ratio {:.2}",
        gradient / objective
    );
    Ok(())
}

fn main() -> Result<()> {
    if std::env::var("CANDLE_GRAD_DO_NOT_DETACH").as_deref() == Ok("1") {
        let tanh: fn(&Tensor) -> Result<Tensor> = |t| t.tanh();
        let relu: fn(&Tensor) -> Result<Tensor> = |t| t.relu();
        let net = Net::new([16, 64, 64, 1])?;
        let (x, y) = (Var::from_tensor(&tensor(6, 16, 32)?)?, tensor(7, 1, 32)?);
        report("w4_tanh/candle", &net, || w4_objective(&net, &x, &y, tanh), 500)?;
        report("w4_relu/candle", &net, || w4_objective(&net, &x, &y, relu), 500)?;
        let net = Net::new([16, 64, 64, 10])?;
        report("w5_tanh/candle", &net, || w5_objective(&net, &x, tanh), 100)?;
        report("w5_relu/candle", &net, || w5_objective(&net, &x, relu), 100)?;
        return Ok(());
    }
    println!("(W4 and W5 run with CANDLE_GRAD_DO_NOT_DETACH=1)");
    let net = Net::new([16, 64, 64, 1])?;
    let (x, y) = (tensor(6, 16, 32)?, tensor(7, 1, 32)?);
    report("w2_mlp_small/candle", &net, || w2_loss(&net, &x, &y), 2000)?;

    let net = Net::new([784, 256, 256, 10])?;
    let x = tensor(6, 784, 64)?;
    let mut onehot = vec![0.0; 10 * 64];
    for b in 0..64 {
        onehot[(b % 10) * 64 + b] = 1.0;
    }
    let onehot = Tensor::from_vec(onehot, (10, 64), &Device::Cpu)?.to_dtype(DType::F64)?;
    report("w3_mlp_big/candle", &net, || w3_loss(&net, &x, &onehot), 200)?;
    Ok(())
}
