"""How far back-view KID over a few people can be trusted: the jackknife standard error of the full method's KID
minus each simple fill's, from the Inception features a ``benchmarks/quality.py --report DIR`` run saved.

KID over 24 back views is one number from 24 images per side; whether the full method's KID is really below a
fill's needs the spread of that difference. Leaving each person out in turn (their back render from both
methods and their true back) and recomputing both KIDs gives the jackknife standard error of the difference
(paired: the same people on both sides). No avatar is made again: the features are the report's.

Usage: python benchmarks/back_kid_spread.py REPORT_DIR
The last line printed is JSON: {"bench": "back_kid_spread", "people": ..., "full": KID, "fills": {fill: {"kid": ...,
"difference": full − fill, "se": ...}}}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor

from dinar.eval.kid import kid_from_features
from dinar.texture.fills import FILLS


def back_features(report: Path, setting: str) -> Tensor:
    """``[N, 2048]``: each person's back-view features of one setting (``full``, ``fill_mean``, ``ground_truth``)."""
    rows = []
    for person in sorted(p for p in (report / "people").iterdir() if p.is_dir()):
        doc = json.loads((person / "full.json").read_text())
        back = next(i for i, v in enumerate(doc["views"]) if v["kind"] == "back")
        rows.append(load_file(person / f"{setting}.features.safetensors")["features"][back])
    return torch.stack(rows)


def kid(pred: Tensor, truth: Tensor) -> float:
    """KID of ``pred`` against ``truth`` as the report computes it (:func:`dinar.eval.kid.kid_from_features`)."""
    return float(kid_from_features(pred, truth, seed=0).mean)


def jackknife_se(full: Tensor, fill: Tensor, truth: Tensor) -> float:
    """The jackknife standard error of KID(full) − KID(fill), each person left out in turn from all three sets."""
    n = len(truth)
    keep = [[j for j in range(n) if j != i] for i in range(n)]
    d = torch.tensor([kid(full[k], truth[k]) - kid(fill[k], truth[k]) for k in keep], dtype=torch.float64)
    return float(((n - 1) / n * ((d - d.mean()) ** 2).sum()).sqrt())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a benchmarks/quality.py --report folder (with its fills)")
    args = parser.parse_args()
    people = args.report / "people"
    if not people.is_dir() or not any(people.glob("*/fill_mean.features.safetensors")):
        print(f"{args.report}: no quality.py report with the fills' features here; run benchmarks/quality.py --report "
              f"{args.report} first", file=sys.stderr)
        return 2
    truth, full = back_features(args.report, "ground_truth"), back_features(args.report, "full")
    if len(truth) < 3:
        print(f"{args.report}: {len(truth)} people; the jackknife needs 3 or more", file=sys.stderr)
        return 2
    out = {"bench": "back_kid_spread", "people": len(truth), "full": round(kid(full, truth), 4), "fills": {}}
    print(f"back KID over {len(truth)} people: the full method {out['full']:.4f}")
    for name in FILLS:
        if not any(people.glob(f"*/fill_{name}.features.safetensors")):
            continue  # a report made before this fill existed
        fill = back_features(args.report, f"fill_{name}")
        value, se = kid(fill, truth), jackknife_se(full, fill, truth)
        diff = out["full"] - round(value, 4)
        out["fills"][name] = {"kid": round(value, 4), "difference": round(diff, 4), "se": round(se, 4)}
        print(f"  {name:<8} {value:.4f}   full − {name}: {diff:+.4f} ± {se:.4f} (jackknife standard error)")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
