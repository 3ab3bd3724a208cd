#!/usr/bin/env python3
"""The capture script's round trip: Q, K, V captured from a randomly initialised Llama-layout
model reproduce the model's own attention output through `attnbench run --save-output`.

Usage: round_trip_test.py ATTNBENCH_BINARY. Exits 77 (skipped) where PyTorch is missing. With
transformers installed it captures from a real (random, tiny) LlamaForCausalLM through
AttentionInterface as well; without, from tests/capture/tiny_llama.py, which dispatches its
attention the same way.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, HERE)

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIPPED: the capture round trip needs PyTorch (apt-get install python3-torch): {e}")
    sys.exit(77)

import capture_qkv  # noqa: E402
import tiny_llama  # noqa: E402

failures = []


def expect(condition, what):
    print(("ok    " if condition else "FAIL  ") + what, flush=True)
    if not condition:
        failures.append(what)


def attnbench(binary, *args):
    result = subprocess.run([binary, "run", "--reps", "1", "--min-time", "0.001",
                             *args], capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout, result.stderr, file=sys.stderr)
        raise SystemExit(f"attnbench run {' '.join(args)} exited {result.returncode}")


def check(out_dir, layer, output, heads=None, tolerance=1e-5):
    args = [out_dir, "--layer", str(layer), "--output", output, "--tolerance", str(tolerance)]
    if heads:
        args += ["--heads", heads]
    return capture_qkv.main(["check", *args]) == 0


def tiny_model(dtype):
    torch.manual_seed(0)
    model = tiny_llama.TinyLlama(tiny_llama.TinyLlamaConfig()).to(dtype).eval()
    with torch.no_grad():  # larger q and k weights: peaked attention, so masks and heads matter
        for layer in model.layers:
            layer.self_attn.q_proj.weight.mul_(6.0)
            layer.self_attn.k_proj.weight.mul_(6.0)
    return model


def capture_tiny(out_dir, dtype, tokens):
    model = tiny_model(dtype)
    with torch.no_grad():
        plain = model(tokens)
    recorder = capture_qkv.Recorder(layers=[1, 2])
    tiny_llama.ATTENTION_FUNCTIONS["attnbench_capture"] = recorder.wrap(tiny_llama.eager_attention)
    model.config.attn_implementation = "attnbench_capture"
    with torch.no_grad():
        captured = model(tokens)
    expect(torch.equal(plain, captured), "capturing leaves the model's logits unchanged")
    expect(sorted(recorder.captured) == [1, 2], "only the chosen layers are kept")
    return recorder.save(out_dir, "tiny-llama"), recorder


def main():
    binary = sys.argv[1]
    torch.manual_seed(1)
    tokens = torch.randint(0, 301, (1, 300))
    with tempfile.TemporaryDirectory(prefix="attnbench_capture_") as tmp:
        # fp32: the capture reproduces the module within fp32 tolerance.
        caps = os.path.join(tmp, "fp32")
        paths, recorder = capture_tiny(caps, torch.float32, tokens)
        arrays, metadata = capture_qkv.read_safetensors(paths[0])
        layer1 = recorder.captured[1]
        expect(sorted(arrays) == ["layers.1.k", "layers.1.out", "layers.1.q", "layers.1.v"],
               "layer-001.safetensors holds layers.1.q, k, v and out")
        expect(arrays["layers.1.q"].shape == (1, 8, 300, 16) and
               arrays["layers.1.k"].shape == (1, 2, 300, 16),
               "q is [B,H,N,D] and k [B,KV,N,D] (before repeat_kv)")
        expect(np.array_equal(arrays["layers.1.k"], layer1["k"].numpy()),
               "the file holds the recorded post-RoPE keys bit for bit")
        expect(metadata["scale"] == repr(0.25) and metadata["causal"] == "true",
               "metadata records the module's scale and causal mask")
        scale = metadata["scale"]
        for layer in (1, 2):
            out = os.path.join(tmp, f"out{layer}")
            attnbench(binary, "--variant", "flash", "--input", f"safetensors:{caps},layer={layer}",
                      "--causal", "--scale", scale, "--save-output", out,
                      "--out", os.path.join(tmp, "r.csv"))
            expect(check(caps, layer, os.path.join(out, "out.npy")),
                   f"layer {layer}: attnbench flash reproduces the module's output (fp32)")
        out = os.path.join(tmp, "heads")
        attnbench(binary, "--variant", "dense", "--input", f"safetensors:{caps},layer=2,heads=4-7",
                  "--causal", "--scale", scale, "--save-output", out,
                  "--out", os.path.join(tmp, "r.csv"))
        expect(check(caps, 2, os.path.join(out, "out.npy"), heads="4-7"),
               "heads=4-7 (kv head 1): dense reproduces those heads' output")
        # The comparison can fail: without the causal mask, or with another head's output.
        out = os.path.join(tmp, "wrong")
        attnbench(binary, "--variant", "flash", "--input", f"safetensors:{caps},layer=1",
                  "--scale", scale, "--save-output", out, "--out", os.path.join(tmp, "r.csv"))
        expect(not check(caps, 1, os.path.join(out, "out.npy")),
               "without --causal the check fails")
        expect(not check(caps, 2, os.path.join(tmp, "heads", "out.npy"), heads="0-3"),
               "another group's heads fail the check")

        # bf16: stored as BF16, widened exactly; the module rounds to bf16, hence the tolerance.
        caps16 = os.path.join(tmp, "bf16")
        capture_tiny(caps16, torch.bfloat16, tokens)
        arrays, _ = capture_qkv.read_safetensors(os.path.join(caps16, "layer-002.safetensors"))
        out = os.path.join(tmp, "out16")
        attnbench(binary, "--variant", "flash", "--dtype", "bf16", "--input",
                  f"safetensors:{caps16},layer=2", "--causal", "--scale", scale,
                  "--save-output", out, "--out", os.path.join(tmp, "r.csv"))
        expect(check(caps16, 2, os.path.join(out, "out.npy"), tolerance=3e-2),
               "a bf16 capture reproduces the module within bf16 rounding")

        try:
            import transformers  # noqa: F401
        except ImportError:
            print("note: transformers is not installed; its AttentionInterface glue is not run")
        else:
            from transformers import LlamaConfig, LlamaForCausalLM
            torch.manual_seed(0)
            config = LlamaConfig(vocab_size=301, hidden_size=128, intermediate_size=256,
                                 num_hidden_layers=2, num_attention_heads=8,
                                 num_key_value_heads=2, attn_implementation="sdpa")
            model = LlamaForCausalLM(config).eval()
            recorder = capture_qkv.Recorder(layers=[1])
            capture_qkv.install_on_transformers(model, recorder)
            with torch.no_grad():
                model(tokens, use_cache=False)
            hf = os.path.join(tmp, "hf")
            recorder.save(hf, "LlamaForCausalLM (random)")
            out = os.path.join(tmp, "outhf")
            attnbench(binary, "--variant", "flash", "--input", f"safetensors:{hf},layer=1",
                      "--causal", "--scale", repr(float(recorder.captured[1]["scale"])),
                      "--save-output", out, "--out", os.path.join(tmp, "r.csv"))
            expect(check(hf, 1, os.path.join(out, "out.npy"), tolerance=1e-4),
                   "transformers' LlamaForCausalLM: the capture reproduces its attention")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("capture round trip: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
