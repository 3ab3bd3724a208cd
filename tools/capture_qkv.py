#!/usr/bin/env python3
"""Captures a model's attention inputs (Q, K, V after RoPE) for attnbench's safetensors input.

Run it where the model is (Hugging Face transformers >= 4.48 and its weights):

    python3 tools/capture_qkv.py capture --model meta-llama/Llama-3.1-8B --text prompt.txt \\
        --max-tokens 16384 --layers 0,15,31 --out caps/

then, on the machine that runs the benchmark:

    attnbench run --variant flash,quest --input safetensors:caps,layer=15,heads=0-7 \\
        --causal --scale S --save-output check/
    python3 tools/capture_qkv.py check caps --layer 15 --heads 0-7 --output check/out.npy

What is captured, per chosen layer L, into OUT/layer-LLL.safetensors:
  layers.L.q    [B, H, N, D]   the queries as attention reads them: after q_proj, after RoPE
  layers.L.k    [B, KV, N, D]  the keys after RoPE, before GQA's repeat_kv (KV kv heads)
  layers.L.v    [B, KV, N, D]  the values, before repeat_kv
  layers.L.out  [B, H, N, D]   the attention's output, before o_proj (what attnbench's
                               --save-output writes as out.npy), from the model's own kernel
in the model's dtype (BF16, F16 or F32; attnbench widens them exactly). The header's
__metadata__ records the model, the layer, the score scale the module passes (S above), the
causal mask, and a sliding window or logit soft-cap when the module has one: attnbench's
exact attention then differs from the model's, and `capture` says so.

How: the script registers an attention function through transformers' AttentionInterface that
records its arguments and calls the model's own implementation (sdpa by default), so it sees
exactly the tensors the model's attention kernel sees, for every architecture that dispatches
through the interface (Llama, Mistral, Qwen2/3, Gemma, Phi-3, ...). Needs PyTorch; `check` needs
NumPy only.
"""
import argparse
import json
import os
import struct
import sys

FORMAT = "attnbench-qkv/1"
# safetensors' names for the dtypes a model's activations come in, and back.
_DTYPE_NAMES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


# ---- safetensors, written and read without the safetensors package -------------------------

def write_safetensors(path, tensors, metadata):
    """Writes {name: torch tensor} as one .safetensors file (the format's 8-byte header size,
    JSON header with __metadata__, then the data, each tensor contiguous, little-endian)."""
    import torch

    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        tensor = tensor.detach().contiguous().cpu()
        dtype = _DTYPE_NAMES.get(str(tensor.dtype).replace("torch.", ""))
        if dtype is None:
            raise ValueError(f"{name}: dtype {tensor.dtype} is not float32, float16 or bfloat16")
        # bf16 has no NumPy dtype: its bits go out through a same-sized integer view.
        raw = tensor.view(torch.int16) if dtype != "F32" else tensor
        blob = raw.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)  # data 8-byte aligned, as the format recommends
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)  # never a half-written file under the final name


def read_safetensors(path):
    """Returns ({name: float32 numpy array}, metadata) for F32, F16 and BF16 tensors."""
    import numpy as np

    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        data = f.read()
    metadata = header.pop("__metadata__", {})
    arrays = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = data[begin:end]
        if entry["dtype"] == "F32":
            values = np.frombuffer(raw, dtype="<f4")
        elif entry["dtype"] == "F16":
            values = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif entry["dtype"] == "BF16":
            values = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            continue
        arrays[name] = values.reshape(entry["shape"])
    return arrays, metadata


# ---- recording ---------------------------------------------------------------------------

class Recorder:
    """Keeps the chosen layers' q, k, v and attention output from one forward pass.

    wrap(fn) returns an attention function with transformers' AttentionInterface signature,
    fn(module, query, key, value, attention_mask, scaling=..., dropout=..., **kwargs) ->
    (output [B, N, H, D], weights), that records and then returns fn's own result."""

    def __init__(self, layers=None):
        self.layers = None if layers is None else set(layers)
        self.captured = {}  # layer -> dict of tensors and facts

    def wrap(self, attention):
        def capture(module, query, key, value, attention_mask, **kwargs):
            output, weights = attention(module, query, key, value, attention_mask, **kwargs)
            layer = getattr(module, "layer_idx", None)
            if layer is None:
                raise RuntimeError("the attention module has no layer_idx; cannot tell layers apart")
            if self.layers is None or layer in self.layers:
                scaling = kwargs.get("scaling")
                self.captured[layer] = {
                    "q": query.detach().cpu(), "k": key.detach().cpu(),
                    "v": value.detach().cpu(),
                    # The output comes back as [B, N, H, D]; attnbench's layout is [B, H, N, D].
                    "out": output.detach().transpose(1, 2).contiguous().cpu(),
                    "scale": scaling if scaling is not None else query.shape[-1] ** -0.5,
                    "causal": bool(getattr(module, "is_causal", True)),
                    "sliding_window": kwargs.get("sliding_window"),
                    "softcap": kwargs.get("softcap"),
                }
            return output, weights

        return capture

    def save(self, out_dir, model_name):
        """Writes one layer-LLL.safetensors per captured layer; returns the paths."""
        os.makedirs(out_dir, exist_ok=True)
        paths = []
        for layer, c in sorted(self.captured.items()):
            prefix = f"layers.{layer}."
            metadata = {
                "format": FORMAT, "model": model_name, "layer": layer,
                "rope": "applied: q and k as the attention kernel reads them",
                "layout": "q and out [B,H,N,D]; k and v [B,KV,N,D] before repeat_kv",
                "positions": f"0..{c['q'].shape[2] - 1}", "scale": repr(float(c["scale"])),
                "causal": str(c["causal"]).lower(),
            }
            for extra in ("sliding_window", "softcap"):
                if c[extra] is not None:
                    metadata[extra] = c[extra]
            path = os.path.join(out_dir, f"layer-{layer:03d}.safetensors")
            write_safetensors(path, {prefix + k: c[k] for k in ("q", "k", "v", "out")}, metadata)
            paths.append(path)
        return paths


def install_on_transformers(model, recorder):
    """Routes the model's attention through recorder.wrap of its current implementation."""
    from transformers import AttentionInterface
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    base = model.config._attn_implementation
    if base not in ALL_ATTENTION_FUNCTIONS:
        raise RuntimeError(f"attention implementation '{base}' is not in transformers' "
                           "AttentionInterface; load the model with attn_implementation='sdpa'")
    AttentionInterface.register("attnbench_capture", recorder.wrap(ALL_ATTENTION_FUNCTIONS[base]))
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("attnbench_capture")
    else:
        for module in model.modules():
            config = getattr(module, "config", None)
            if config is not None and hasattr(config, "_attn_implementation"):
                config._attn_implementation = "attnbench_capture"


def parse_layers(text, count):
    if text in (None, "all"):
        return list(range(count))
    layers = sorted({int(x) for x in text.split(",")})
    bad = [layer for layer in layers if not 0 <= layer < count]
    if bad:
        raise SystemExit(f"--layers {text}: the model has layers 0-{count - 1}")
    return layers


def report(paths, recorder, out_dir):
    for layer, c in sorted(recorder.captured.items()):
        b, h, n, d = c["q"].shape
        kv = c["k"].shape[1]
        print(f"layer {layer}: q [{b},{h},{n},{d}], k/v [{b},{kv},{n},{d}], "
              f"{str(c['q'].dtype).replace('torch.', '')}, scale {float(c['scale']):.9g}")
        if c["sliding_window"] is not None or c["softcap"] is not None:
            print(f"  note: this layer uses sliding_window={c['sliding_window']} "
                  f"softcap={c['softcap']}; attnbench's exact attention does not, so its "
                  "accuracy figures are against plain causal attention", file=sys.stderr)
    layer = min(recorder.captured)
    scale = float(recorder.captured[layer]["scale"])
    print(f"wrote {len(paths)} file(s) to {out_dir}; for example:\n"
          f"  attnbench run --variant dense,flash --input safetensors:{out_dir},layer={layer} "
          f"--causal --scale {scale!r} --save-output {out_dir}/check\n"
          f"  python3 tools/capture_qkv.py check {out_dir} --layer {layer} "
          f"--output {out_dir}/check/out.npy")


def capture_command(args):
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise SystemExit(f"capture needs PyTorch and transformers >= 4.48 ({e})")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=dtype,
                                                 attn_implementation="sdpa").to(args.device)
    model.eval()
    with open(args.text, encoding="utf-8") as f:
        ids = tokenizer(f.read(), return_tensors="pt").input_ids[:, : args.max_tokens]
    recorder = Recorder(parse_layers(args.layers, model.config.num_hidden_layers))
    install_on_transformers(model, recorder)
    with torch.no_grad():
        model(ids.to(args.device), use_cache=False)
    paths = recorder.save(args.out, args.model)
    report(paths, recorder, args.out)


def check_command(args):
    """Compares attnbench's out.npy with the module's captured output for the same heads."""
    import glob

    import numpy as np

    name = f"layers.{args.layer}.out"
    for path in sorted(glob.glob(os.path.join(args.dir, "*.safetensors"))):
        arrays, _ = read_safetensors(path)
        if name in arrays:
            expected = arrays[name].astype(np.float64)
            break
    else:
        raise SystemExit(f"no tensor {name} in {args.dir}/*.safetensors")
    if args.heads:
        first, _, last = args.heads.partition("-")
        expected = expected[:, int(first): int(last or first) + 1]
    got = np.load(args.output).astype(np.float64)
    if got.shape != expected.shape:
        raise SystemExit(f"{args.output} has shape {got.shape}, the capture {expected.shape}")
    error = np.linalg.norm(got - expected) / max(np.linalg.norm(expected), 1e-30)
    worst = np.abs(got - expected).max()
    print(f"relative error {error:.3e}, largest difference {worst:.3e} "
          f"(tolerance {args.tolerance:g})")
    return 0 if error <= args.tolerance else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    commands = parser.add_subparsers(dest="command", required=True)
    capture = commands.add_parser("capture", help="run a model over a text and save Q, K, V")
    capture.add_argument("--model", required=True, help="a Hugging Face model id or folder")
    capture.add_argument("--text", required=True, help="a UTF-8 text file, the prompt")
    capture.add_argument("--max-tokens", type=int, default=8192)
    capture.add_argument("--layers", default="all", help="comma-separated layer numbers")
    capture.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16")
    capture.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    capture.add_argument("--out", required=True, help="the folder to write")
    check = commands.add_parser("check", help="compare attnbench's out.npy with the capture")
    check.add_argument("dir")
    check.add_argument("--layer", type=int, required=True)
    check.add_argument("--heads", help="the query heads attnbench read, A-B, as in heads=A-B")
    check.add_argument("--output", required=True, help="attnbench's --save-output DIR/out.npy")
    check.add_argument("--tolerance", type=float, default=1e-5,
                       help="largest relative (Frobenius) error accepted; bf16 captures need "
                            "about 1e-2, as the model's own kernel rounds to bf16")
    args = parser.parse_args(argv)
    if args.command == "capture":
        capture_command(args)
        return 0
    return check_command(args)


if __name__ == "__main__":
    sys.exit(main())
