#!/usr/bin/env python3
"""Prints the medians criterion recorded and the ratios to the hand-written
adjoint and to the objective, per benchmark group.

Usage: cargo bench --bench NAME && python3 benches/ratios.py
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
groups = {}
for estimates in sorted(root.glob("*/*/new/estimates.json")):
    group, variant = estimates.parts[-4], estimates.parts[-3]
    median_ns = json.loads(estimates.read_text())["median"]["point_estimate"]
    groups.setdefault(group, {})[variant] = median_ns

print(f"{'group':<16}{'variant':<12}{'median':>12}{'/ hand':>10}{'/ objective':>13}")
for group, variants in groups.items():
    for variant, ns in variants.items():
        hand = variants.get("hand")
        objective = variants.get("objective")
        ratio_hand = f"{ns / hand:.3f}" if hand else "-"
        ratio_obj = f"{ns / objective:.2f}" if objective else "-"
        print(f"{group:<16}{variant:<12}{ns:>10.1f}ns{ratio_hand:>10}{ratio_obj:>13}")

# W5's second-order work, gradient less `first_order` (the forward pass once
# and a pullback per row), relu's against tanh's (Etmann et al. 2019: about
# two thirds for a locally linear activation).
relu, tanh = groups.get("w5_relu", {}), groups.get("w5_tanh", {})
if all("first_order" in g for g in (relu, tanh)):
    print()
    for variant in ("generated", "hand"):
        if variant in relu and variant in tanh:
            work = [g[variant] - g["first_order"] for g in (relu, tanh)]
            print(f"w5 second-order work, {variant}: relu {work[0] / 1e3:.1f} us, "
                  f"tanh {work[1] / 1e3:.1f} us, relu / tanh {work[0] / work[1]:.2f}")
