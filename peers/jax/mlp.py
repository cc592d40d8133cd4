"""The JAX peer for W2 (mlp-small) and W3 (mlp-big): the same networks and
data as benches/mlp.rs, jit-compiled, float64, timed as medians on the CPU.

    pip install "jax[cpu]" && python3 peers/jax/mlp.py

Prints the value and gradient checksums (to compare with WORKLOADS.md) and
the medians of the objective and of value + gradient.
"""
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)


def tensor(t, rows, cols):
    k = jnp.arange(rows * cols, dtype=jnp.float64)
    return (0.3 * jnp.sin(0.7 * k + 1.3 * t)).reshape(rows, cols)


def params(sizes):
    i, h1, h2, o = sizes
    shapes = [(h1, i), (h1, 1), (h2, h1), (h2, 1), (o, h2), (o, 1)]
    return [tensor(t, r, c) for t, (r, c) in enumerate(shapes)]


def forward(p, x, act):
    h1 = act(p[0] @ x + p[1])
    h2 = act(p[2] @ h1 + p[3])
    return p[4] @ h2 + p[5]


def w2_loss(p, x, y):
    return jnp.mean((forward(p, x, jnp.tanh) - y) ** 2)


def w3_loss(p, x, labels):
    z = forward(p, x, jax.nn.relu)
    logp = jax.nn.log_softmax(z, axis=0)
    return -jnp.mean(logp[labels, jnp.arange(z.shape[1])])


def median_us(f, runs):
    for _ in range(10):
        jax.block_until_ready(f())
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        jax.block_until_ready(f())
        times.append((time.perf_counter() - start) * 1e6)
    times.sort()
    return times[runs // 2]


def report(name, loss, p, data, runs):
    objective = jax.jit(loss)
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    value, grads = value_and_grad(p, *data)
    total = sum(float(jnp.sum(g)) for g in grads)
    absolute = sum(float(jnp.sum(jnp.abs(g))) for g in grads)
    t_obj = median_us(lambda: objective(p, *data), runs)
    t_grad = median_us(lambda: value_and_grad(p, *data), runs)
    print(f"{name}: value {float(value):.10f} gradient sum {total:.10f} abs sum {absolute:.10f}")
    print(f"{name}: objective {t_obj:.1f} us, value+gradient {t_grad:.1f} us (medians of {runs}), ratio {t_grad / t_obj:.2f}")


report("w2_mlp_small/jax", w2_loss, params((16, 64, 64, 1)), (tensor(6, 16, 32), tensor(7, 1, 32)), 2000)
report("w3_mlp_big/jax", w3_loss, params((784, 256, 256, 10)), (tensor(6, 784, 64), jnp.arange(64) % 10), 200)
