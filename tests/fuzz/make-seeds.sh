#!/usr/bin/env bash
# Seed corpora for the fuzz targets: make-seeds.sh OUT_DIR ATTNBENCH_BINARY
# Writes OUT_DIR/spec (variant specs), OUT_DIR/npy and OUT_DIR/safetensors (valid and broken
# files) and OUT_DIR/csv (a real results file from attnbench, and broken ones).
set -euo pipefail
out=$1
attnbench=$2
mkdir -p "$out/spec" "$out/npy" "$out/safetensors" "$out/csv"

i=0
for spec in dense flash:block=32 sliding_window:left=128,right=0 \
  "longformer:left=8,right=8,global=3,dilation=2" \
  "bigbird:block=16,window=3,global=2,random=2,seed=5" lsh "dense:" "x:a=1,b=2" \
  "sliding_window:left=1,left=2" "flash:block=1e3" " bigbird : block = 7 "; do
  printf '%s' "$spec" >"$out/spec/seed$i"
  i=$((i + 1))
done

python3 - "$out/npy" <<'PY'
import struct, sys
out = sys.argv[1]
def npy(name, shape, descr="<f4", fortran=False, major=1, data=None, cut=0):
    dims = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", dims)
    width = 2 if major == 1 else 4
    header += " " * ((64 - (10 + width - 2 + len(header) + 1) % 64) % 64) + "\n"
    n = 1
    for d in shape:
        n *= d
    if data is None:
        data = struct.pack("<%df" % n, *[i * 0.25 for i in range(n)])
    length = struct.pack("<H" if major == 1 else "<I", len(header))
    blob = b"\x93NUMPY" + bytes([major, 0]) + length + header.encode() + data
    open(f"{out}/{name}", "wb").write(blob[:len(blob) - cut])
npy("nd.npy", (4, 3))
npy("bhnd.npy", (1, 2, 3, 2))
npy("v2.npy", (2, 2), major=2)
npy("vector.npy", (5,))
npy("empty.npy", (0, 4))
npy("f8.npy", (2, 2), descr="<f8", data=bytes(32))
npy("fortran.npy", (2, 2), fortran=True)
npy("truncated.npy", (4, 4), cut=5)
npy("nan.npy", (1, 2), data=struct.pack("<2f", 1.0, float("nan")))
PY

python3 - "$out/safetensors" <<'PY'
import json, struct, sys
out = sys.argv[1]
def st(name, tensors, metadata=None, cut=0, raw_header=None):
    header, blob = {}, b""
    for key, (dtype, shape, data) in tensors.items():
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if metadata is not None:
        header["__metadata__"] = metadata
    text = (raw_header or json.dumps(header)).encode()
    whole = struct.pack("<Q", len(text)) + text + blob
    open(f"{out}/{name}", "wb").write(whole[:len(whole) - cut])
f32 = lambda n: struct.pack("<%df" % n, *[i * 0.5 for i in range(n)])
st("layer.safetensors", {"layers.0.q": ("F32", [1, 2, 3, 2], f32(12)),
                         "layers.0.k": ("F16", [1, 1, 3, 2], bytes(12)),
                         "layers.0.v": ("BF16", [1, 1, 3, 2], bytes(12))},
   {"format": "attnbench-qkv/1", "note": "caf\u00e9"})
st("empty.safetensors", {})
st("truncated.safetensors", {"x": ("F32", [4, 4], f32(16))}, cut=9)
st("wrong-size.safetensors", {}, raw_header='{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,4]}}')
st("nested.safetensors", {}, raw_header='{"__metadata__":{"a":[1,{"b":null}]},"y":true}')
PY

"$attnbench" run --variant dense --variant flash --seq-len 8 --heads 1 --head-dim 4 --reps 1 \
  --min-time 0.001 --out "$out/csv/results.csv" 2>/dev/null
head -n 1 "$out/csv/results.csv" >"$out/csv/header-only.csv"
head -c -40 "$out/csv/results.csv" >"$out/csv/torn.csv"
printf 'a,b\n1,2\n' >"$out/csv/other.csv"
