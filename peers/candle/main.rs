//! The candle peer for W2 (mlp-small) and W3 (mlp-big): the same networks
//! and data as `benches/mlp.rs`, differentiated by candle-core's tape
//! (`Tensor::backward`), timed as medians over repeated calls on one thread.
//!
//! `cargo run --release --manifest-path peers/candle/Cargo.toml`
//! prints, per workload, the value and gradient checksums (to compare with
//! WORKLOADS.md) and the median times of the objective and of value + gradient.

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
    for p in &net.params {
        let g = grads.get(p.as_tensor()).expect("every parameter has a gradient");
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
            grads.get(p.as_tensor()).expect("gradient");
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
