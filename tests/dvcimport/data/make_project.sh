#!/usr/bin/env bash
# make_project.sh TARGET_DIR [DVC_EXE]
#
# Builds a small but real DVC 3.x project in TARGET_DIR (must not exist or be empty):
#   git init + dvc init, params.yaml with nested keys, config/labels.yaml (tracked whole),
#   data/raw.csv tracked with `dvc add`,
#   pipeline  prepare -> featurize -> train -> evaluate   (pure-Python, stdlib only)
#   + foreach stage  `stats@train`, `stats@test`      (list from params.yaml via ${splits})
#   + matrix stage   `sweep@<lr>-<epochs>`            (lr from ${sweep.lrs}, epochs inline)
#   directory outputs (data/prepared, data/features -> `.dir` objects in the cache),
#   metrics (JSON), plots (CSV per-stage with x/y/template, JSON per-stage, top-level plots),
#   one plain `cache: false` output (reports/summary.txt),
# then runs `dvc repro` and commits everything (dvc.lock, .gitignore files, *.dvc).
#
# Environment is isolated: HOME, XDG dirs and DVC_* config/site-cache dirs point into
# "$MAKE_PROJECT_HOME" (else a temp dir removed on exit); git identity comes from GIT_AUTHOR_*/GIT_COMMITTER_*.
# Prints the seconds taken by `dvc repro` (first) and a second, no-op `dvc repro`
# as  "timing: repro=<s> noop_repro=<s>"  on stdout's last line.
# Needs: bash, git >= 2.28, python3 (any 3.x, stdlib only) on PATH for the stage commands.
set -euo pipefail

target="${1:?usage: make_project.sh TARGET_DIR [DVC_EXE]}"
dvc="${2:-dvc}"
command -v "$dvc" >/dev/null 2>&1 || { echo "dvc executable not found: $dvc" >&2; exit 2; }
dvc="$(command -v "$dvc")"

if [ -e "$target" ] && [ -n "$(ls -A "$target" 2>/dev/null)" ]; then
    echo "target not empty: $target" >&2
    exit 2
fi
mkdir -p "$target"
target="$(cd "$target" && pwd)"

# ---- isolated environment (same variables as benchmarks/bench_foundation.py) ----------
if [ -n "${MAKE_PROJECT_HOME:-}" ]; then
    h="$MAKE_PROJECT_HOME"
else
    h="$(mktemp -d)"
    trap 'rm -rf "$h"' EXIT   # only the home we created ourselves
fi
mkdir -p "$h/.config/dvc" "$h/.cache" "$h/dvc-system" "$h/dvc-site-cache"
export HOME="$h" XDG_CONFIG_HOME="$h/.config" XDG_CACHE_HOME="$h/.cache"
export GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
export GIT_AUTHOR_NAME="dvc fixture" GIT_AUTHOR_EMAIL="dvc-fixture@example.invalid"
export GIT_COMMITTER_NAME="dvc fixture" GIT_COMMITTER_EMAIL="dvc-fixture@example.invalid"
export DVC_NO_ANALYTICS=1
export DVC_GLOBAL_CONFIG_DIR="$h/.config/dvc" DVC_SYSTEM_CONFIG_DIR="$h/dvc-system"
export DVC_SITE_CACHE_DIR="$h/dvc-site-cache"
unset PYTHONPATH PYTHONHOME GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
export LC_ALL=C

cd "$target"
git init -q -b main .
git config core.autocrlf false
git config commit.gpgsign false
"$dvc" init -q
git commit -q -m "dvc init"

mkdir -p src data config

# ---- parameters ------------------------------------------------------------------------
cat > params.yaml <<'EOF'
prepare:
  split: 0.25
  seed: 42
featurize:
  scale: true
  poly:
    degree: 2
train:
  lr: 0.5
  epochs: 30
  l2: 0.001
evaluate:
  threshold: 0.5
splits: [train, test]
sweep:
  lrs: [0.1, 0.5]
EOF

cat > config/labels.yaml <<'EOF'
positive: 1
negative: 0
EOF

# ---- raw data (deterministic), tracked with `dvc add` -----------------------------------
python3 - <<'EOF'
import random
rnd = random.Random(1234)
with open("data/raw.csv", "w", newline="\n") as f:
    f.write("x1,x2,y\n")
    for _ in range(400):
        x1, x2 = rnd.uniform(-3, 3), rnd.uniform(-3, 3)
        y = 1 if (x1 * x1 + 0.8 * x2 + rnd.gauss(0, 0.7)) > 1.0 else 0
        f.write(f"{x1:.5f},{x2:.5f},{y}\n")
EOF
"$dvc" add -q data/raw.csv

# ---- stage scripts (stdlib only) ---------------------------------------------------------
cat > src/common.py <<'EOF'
import csv
import json
import os

def load_params():
    # minimal reader for the block-style params.yaml above (no YAML dependency):
    # nested mappings by indentation, scalars, and flow lists like [a, 1]
    out = {}
    parents = [(-1, out)]
    with open("params.yaml") as f:
        for raw in f:
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            ind = len(raw) - len(raw.lstrip())
            key, _, val = raw.strip().partition(":")
            val = val.strip()
            while parents[-1][0] >= ind:
                parents.pop()
            cur = parents[-1][1]
            if val == "":
                cur[key] = {}
                parents.append((ind, cur[key]))
            elif val.startswith("["):
                cur[key] = [_scalar(v.strip()) for v in val.strip("[]").split(",") if v.strip()]
            else:
                cur[key] = _scalar(val)
    return out

def _scalar(v):
    if v in ("true", "false"):
        return v == "true"
    for t in (int, float):
        try:
            return t(v)
        except ValueError:
            pass
    return v

def read_csv(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        return header, [[float(c) for c in row] for row in r]

def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", newline="\n") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(f"{v:.6g}" for v in row) + "\n")

def write_json(path, obj):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
EOF

cat > src/prepare.py <<'EOF'
import random
from common import load_params, read_csv, write_csv
p = load_params()["prepare"]
header, rows = read_csv("data/raw.csv")
rnd = random.Random(p["seed"])
rnd.shuffle(rows)
n_test = int(len(rows) * p["split"])
write_csv("data/prepared/test.csv", header, rows[:n_test])
write_csv("data/prepared/train.csv", header, rows[n_test:])
EOF

cat > src/featurize.py <<'EOF'
import sys
from common import load_params, read_csv, write_csv
p = load_params()["featurize"]
src, dst = sys.argv[1], sys.argv[2]
deg = p["poly"]["degree"]
_, train = read_csv(f"{src}/train.csv")
def feats(r):
    x1, x2 = r[0], r[1]
    out = [x1, x2]
    if deg >= 2:
        out += [x1 * x1, x2 * x2, x1 * x2]
    return out
cols = len(feats(train[0]))
mu = [sum(feats(r)[i] for r in train) / len(train) for i in range(cols)]
sd = [max(1e-9, (sum((feats(r)[i] - mu[i]) ** 2 for r in train) / len(train)) ** 0.5) for i in range(cols)]
for split in ("train", "test"):
    _, rows = read_csv(f"{src}/{split}.csv")
    out = []
    for r in rows:
        f = feats(r)
        if p["scale"]:
            f = [(v - m) / s for v, m, s in zip(f, mu, sd)]
        out.append(f + [r[2]])
    write_csv(f"{dst}/{split}.csv", [f"f{i}" for i in range(cols)] + ["y"], out)
EOF

cat > src/train.py <<'EOF'
import argparse
import math
from common import load_params, read_csv, write_csv, write_json
p = load_params()["train"]
ap = argparse.ArgumentParser()
ap.add_argument("--lr", type=float, default=p["lr"])
ap.add_argument("--epochs", type=int, default=p["epochs"])
ap.add_argument("--out", default="model/model.json")
ap.add_argument("--loss-csv", default=None)
a = ap.parse_args()
_, rows = read_csv("data/features/train.csv")
n = len(rows[0]) - 1
w, b = [0.0] * n, 0.0
hist = []
for epoch in range(a.epochs):
    gw, gb, loss = [0.0] * n, 0.0, 0.0
    for r in rows:
        x, y = r[:n], r[n]
        z = sum(wi * xi for wi, xi in zip(w, x)) + b
        pr = 1 / (1 + math.exp(-max(-30, min(30, z))))
        loss -= y * math.log(pr + 1e-12) + (1 - y) * math.log(1 - pr + 1e-12)
        for i in range(n):
            gw[i] += (pr - y) * x[i]
        gb += pr - y
    m = len(rows)
    w = [wi - a.lr * (g / m + p["l2"] * wi) for wi, g in zip(w, gw)]
    b -= a.lr * gb / m
    hist.append([epoch, loss / m])
write_json(a.out, {"w": [round(v, 8) for v in w], "b": round(b, 8)})
if a.loss_csv:
    write_csv(a.loss_csv, ["epoch", "loss"], hist)
EOF

cat > src/evaluate.py <<'EOF'
import json
import math
from common import load_params, read_csv, write_json
thr = load_params()["evaluate"]["threshold"]
model = json.load(open("model/model.json"))
_, rows = read_csv("data/features/test.csv")
n = len(rows[0]) - 1
scores = []
for r in rows:
    z = sum(wi * xi for wi, xi in zip(model["w"], r[:n])) + model["b"]
    scores.append((1 / (1 + math.exp(-max(-30, min(30, z)))), int(r[n])))
tp = sum(1 for s, y in scores if s >= thr and y == 1)
tn = sum(1 for s, y in scores if s < thr and y == 0)
acc = (tp + tn) / len(scores)
pos = sum(y for _, y in scores) or 1
neg = (len(scores) - pos) or 1
roc = []
for t in [i / 10 for i in range(11)]:
    roc.append({"threshold": t,
                "fpr": round(sum(1 for s, y in scores if s >= t and y == 0) / neg, 4),
                "tpr": round(sum(1 for s, y in scores if s >= t and y == 1) / pos, 4)})
write_json("metrics/eval.json", {"accuracy": round(acc, 4), "n_test": len(scores),
                                 "confusion": {"tp": tp, "tn": tn}})
write_json("plots/roc.json", roc)
import os
os.makedirs("reports", exist_ok=True)
with open("reports/summary.txt", "w") as f:
    f.write(f"accuracy={acc:.4f} threshold={thr}\n")
EOF

cat > src/stats.py <<'EOF'
import sys
from common import read_csv, write_json
header, rows = read_csv(sys.argv[1])
write_json(sys.argv[2], {"rows": len(rows), "positive": int(sum(r[-1] for r in rows)),
                         "means": {h: round(sum(r[i] for r in rows) / len(rows), 6)
                                   for i, h in enumerate(header[:-1])}})
EOF

# ---- pipeline ----------------------------------------------------------------------------
cat > dvc.yaml <<'EOF'
stages:
  prepare:
    cmd: python3 src/prepare.py
    deps:
      - src/prepare.py
      - src/common.py
      - data/raw.csv
    params:
      - prepare.split
      - prepare.seed
    outs:
      - data/prepared
  featurize:
    cmd: python3 src/featurize.py data/prepared data/features
    deps:
      - src/featurize.py
      - src/common.py
      - data/prepared
    params:
      - featurize
    outs:
      - data/features
  train:
    cmd: python3 src/train.py --loss-csv plots/train_loss.csv
    deps:
      - src/train.py
      - src/common.py
      - data/features
    params:
      - train
    outs:
      - model/model.json
    plots:
      - plots/train_loss.csv:
          cache: false
          x: epoch
          y: loss
          template: linear
          title: Training loss
  evaluate:
    cmd: python3 src/evaluate.py
    deps:
      - src/evaluate.py
      - src/common.py
      - model/model.json
      - data/features
    params:
      - evaluate.threshold
      - config/labels.yaml:
    metrics:
      - metrics/eval.json:
          cache: false
    plots:
      - plots/roc.json:
          cache: false
          x: fpr
          y: tpr
    outs:
      - reports/summary.txt:
          cache: false
  stats:
    foreach: ${splits}
    do:
      cmd: python3 src/stats.py data/features/${item}.csv stats/${item}.json
      deps:
        - src/stats.py
        - data/features
      outs:
        - stats/${item}.json
  sweep:
    matrix:
      lr: ${sweep.lrs}
      epochs: [5]
    cmd: python3 src/train.py --lr ${item.lr} --epochs ${item.epochs} --out sweep/${key}.json
    deps:
      - src/train.py
      - data/features
    outs:
      - sweep/${key}.json
metrics:
  - metrics/eval.json
plots:
  - roc_curve:
      template: simple
      x: fpr
      y:
        plots/roc.json: tpr
  - plots/train_loss.csv:
      x: epoch
      y: loss
EOF

git add -A
git commit -q -m "pipeline definition + raw data pointer"

now() { python3 -c 'import time; print(time.monotonic())'; }
t0=$(now)
"$dvc" repro -q
t1=$(now)
"$dvc" repro -q
t2=$(now)

git add -A
git commit -q -m "dvc repro"

# sanity: nothing stale
st="$("$dvc" status --json)"
if [ "$st" != "{}" ]; then
    echo "unexpected dvc status after repro: $st" >&2
    exit 1
fi
if [ -n "$(git status --porcelain)" ]; then
    echo "worktree not clean after commit:" >&2
    git status --porcelain >&2
    exit 1
fi
python3 - "$t0" "$t1" "$t2" <<'EOF'
import sys
t0, t1, t2 = map(float, sys.argv[1:])
print(f"timing: repro={t1 - t0:.2f} noop_repro={t2 - t1:.2f}")
EOF
