"""A faster CPU path, chosen by measurement: the SD 1.5 UNet at 512x512 on each CPU backend.

Builds the full-size SD 1.5 UNet with random weights (the architecture numbers of
`bench/scale.py`, seed 0; weights do not change the speed) and calls it on the same inputs
(batch 2, i.e. one step with guidance: 64x64 latents, timestep 500, 77x768 text embeddings,
all seeded) through each way of running it on the CPU:

    eager           torch eager fp32, the process's default threads (the baseline)
    threads-1       torch eager fp32 on one thread
    channels-last   torch eager fp32, weights and latents in channels-last memory format
    bf16-autocast   torch.autocast("cpu", bfloat16) around the eager fp32 model
    bf16-weights    the model's weights converted to bfloat16 (inputs cast, output back to fp32)
    torch.compile   inductor, default mode (its first call is its compile time)
    openvino        openvino.convert_model from torch, saved as IR (fp16-compressed weights),
                    compiled for CPU with OpenVINO's default precision (bf16 where the CPU has it)
    openvino-f32    the same IR compiled with INFERENCE_PRECISION_HINT=f32
    onnxruntime     torch.onnx.export (opset 17, weights as external data), CPU execution provider
    engine-bf16     the engine's own CPU fallback when OpenVINO is not installed
                    (studio.engine.cpu_bf16.Bf16Forward: bf16 autocast, output cast to fp32)

Each group of backends runs in its own child process next to its own eager baseline: after
one warm-up call of each, the group's members are called in rounds, the order rotated every
round, so a busy moment on a shared machine hits every member alike. Reported per backend:

    s/call      median seconds per UNet call
    ratio       median over rounds of (backend s / eager s in the same round); below 1 is faster
    speed-up    1 / ratio
    first s     what only the first run pays: export/convert + save + compile, or the first call
                of torch.compile; `cached s` what a later run pays to load the saved form
    PSNR dB     fidelity of the UNet's output (the noise prediction) against eager fp32 on the
                same inputs, the peak being the range (max - min) of eager's output. Not a
                decoded image: a random-weight VAE would decode noise at a cost of ~27 s a call.

Run: python bench/cpu_backends.py [--groups torch,openvino,onnxruntime,compile,fallback] [--rounds 3]
     [--compile-timeout 900] [--out bench/results/cpu-backends.json] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

GROUPS = {
    "torch": ["threads-1", "channels-last", "bf16-autocast"],
    "bf16-weights": ["bf16-weights"],  # not run by default
    "best": ["openvino", "bf16-autocast"],  # the two fastest side by side (run after the others)
    "openvino": ["openvino", "openvino-f32"],
    "onnxruntime": ["onnxruntime"],
    "compile": ["torch.compile"],
    "fallback": ["engine-bf16"],  # the engine's path without OpenVINO (what auto picks is in its versions)
}
TIMESTEP = 500


# ---- child: one group next to eager ----


def build_unet(tiny: bool):
    import torch
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from scale import model_spec  # type: ignore[import-not-found]

    spec = model_spec("sd15", tiny)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**spec["unet"]).eval()
    side = spec["size"] // 8
    generator = torch.Generator().manual_seed(1)
    inputs = (
        torch.randn(2, 4, side, side, generator=generator),
        torch.full((2,), float(TIMESTEP)),
        torch.randn(2, 77, spec["unet"]["cross_attention_dim"], generator=generator),
    )
    return unet, inputs


class Call:
    """(sample, timestep, text) -> the UNet's output as an fp32 torch tensor."""

    def __init__(self, module):
        self.module = module

    def forward(self, sample, timestep, text):

        return self.module(sample, timestep, text)

    def __call__(self, *inputs):
        import torch

        with torch.inference_mode():
            return self.forward(*inputs)


def plain_forward(unet):
    import torch

    class Forward(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, text):
            return self.unet(sample, timestep, encoder_hidden_states=text, return_dict=False)[0]

    return Forward().eval()


def make_backend(name: str, unet, inputs, work: Path):
    """(callable, first_s, cached_s or None, versions) for one backend; timing includes its set-up."""
    import torch

    began = time.perf_counter()
    cached = None
    versions: dict[str, Any] = {"torch": str(torch.__version__)}
    forward = plain_forward(unet)
    if name == "eager":
        call: Any = Call(forward)
    elif name == "threads-1":
        inner = Call(forward)

        def call_threads(*args):
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return inner(*args)
            finally:
                torch.set_num_threads(before)

        call = call_threads

    elif name == "channels-last":
        import copy

        model = copy.deepcopy(forward).to(memory_format=torch.channels_last)  # pyright: ignore[reportCallIssue]
        inner = Call(model)

        def call_channels_last(sample, timestep, text):
            return inner(sample.contiguous(memory_format=torch.channels_last), timestep, text).contiguous()

        call = call_channels_last

    elif name == "bf16-autocast":
        inner = Call(forward)

        def call_autocast(*args):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return inner(*args).float()

        call = call_autocast

    elif name == "bf16-weights":
        import copy

        model = copy.deepcopy(forward).to(torch.bfloat16)
        inner = Call(model)

        def call_bf16(sample, timestep, text):
            return inner(sample.bfloat16(), timestep, text.bfloat16()).float()

        call = call_bf16

    elif name == "engine-bf16":
        from studio.engine.cpu_backend import candidates
        from studio.engine.cpu_bf16 import Bf16Forward, bf16_native

        versions["auto_without_openvino"] = candidates("auto", "cpu", False, bf16_native()) or ("torch",)
        engine_forward = Bf16Forward(unet)

        def call_engine(sample, timestep, text):
            with torch.inference_mode():
                return engine_forward(sample, timestep, text, return_dict=False)[0]

        call = call_engine

    elif name == "torch.compile":
        inner = Call(torch.compile(forward))
        inner(*inputs)  # the compile

        def call_compiled(*args):
            return inner(*args)

        call = call_compiled

    elif name in ("openvino", "openvino-f32"):
        import openvino as ov

        versions["openvino"] = ov.get_version()
        ir = work / "unet.xml"
        versions["ir_converted_now"] = not ir.exists()
        if not ir.exists():
            with torch.no_grad():
                converted = ov.convert_model(forward, example_input=inputs)
            ov.save_model(converted, ir)  # weights compressed to fp16 (the default)
            del converted
        convert_s = time.perf_counter() - began
        loaded = time.perf_counter()
        config = {"INFERENCE_PRECISION_HINT": "f32"} if name == "openvino-f32" else {}
        compiled = ov.Core().compile_model(ov.Core().read_model(ir), "CPU", config)
        request = compiled.create_infer_request()
        cached = time.perf_counter() - loaded
        versions["openvino_precision"] = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        versions["convert_s"] = round(convert_s, 1)

        def call_openvino(*args):
            result = request.infer([a.numpy() for a in args])
            return torch.from_numpy(result[0].copy())

        call = call_openvino

    elif name == "onnxruntime":
        import onnxruntime as ort

        versions["onnxruntime"] = ort.__version__
        path = work / "unet.onnx"
        with torch.no_grad():
            torch.onnx.export(
                forward,
                inputs,
                str(path),
                input_names=["sample", "timestep", "text"],
                output_names=["out"],
                opset_version=17,
                dynamo=False,
                external_data=True,
            )
        export_s = time.perf_counter() - began
        loaded = time.perf_counter()
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        cached = time.perf_counter() - loaded
        versions["export_s"] = round(export_s, 1)

        def call_ort(*args):
            feeds = dict(zip(["sample", "timestep", "text"], [a.numpy() for a in args], strict=True))
            return torch.from_numpy(session.run(["out"], feeds)[0])

        call = call_ort

    else:
        raise ValueError(name)
    return call, time.perf_counter() - began, cached, versions


def psnr(reference, other) -> float:
    peak = float(reference.max() - reference.min())
    mse = float(((reference.double() - other.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def run_group(group: str, tiny: bool, rounds: int, partial: Path | None = None, ir: Path | None = None) -> dict:
    """The group's rows; after the warm-ups and after every round they are also written to `partial`,
    so a group stopped by the parent's time limit still leaves what it measured."""
    unet, inputs = build_unet(tiny)
    names = ["eager", *GROUPS[group]]
    calls, out = {}, {}
    seconds: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="cpu-backends-") as work:
        for name in names:
            folder = ir if ir is not None and name.startswith("openvino") else Path(work)
            call, first, cached, versions = make_backend(name, unet, inputs, folder)
            began = time.perf_counter()
            reference = call(*inputs)  # warm-up
            warm = time.perf_counter() - began
            calls[name] = call
            out[name] = {"first_s": first, "cached_s": cached, "warmup_s": warm, "versions": versions}
            out[name]["output"] = reference
            print(f"[{group}] {name}: set-up {first:.1f} s, warm-up call {warm:.1f} s", file=sys.stderr, flush=True)
        write_partial(partial, summarise(group, names, out, seconds))
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                began = time.perf_counter()
                calls[name](*inputs)
                seconds[name].append(time.perf_counter() - began)
            print(
                f"[{group}] round {r + 1}: " + ", ".join(f"{n} {seconds[n][-1]:.1f}" for n in names),
                file=sys.stderr,
                flush=True,
            )
            write_partial(partial, summarise(group, names, out, seconds))
    return summarise(group, names, out, seconds)


def write_partial(path: Path | None, rows: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(rows, default=str))


def summarise(group: str, names: list[str], out: dict, seconds: dict[str, list[float]]) -> dict:
    import torch

    eager = out["eager"]["output"]
    rows = {}
    for name in names:
        ratios = [s / e for s, e in zip(seconds[name], seconds["eager"], strict=True)]
        timed = bool(ratios)
        rows[name] = {
            "group": group,
            "s_per_call": statistics.median(seconds[name]) if timed else None,
            "seconds": [round(s, 2) for s in seconds[name]],
            "warmup_s": round(out[name]["warmup_s"], 2),
            "ratio_to_eager": statistics.median(ratios) if timed else None,
            "speedup": 1 / statistics.median(ratios) if timed else None,
            "first_s": round(out[name]["first_s"] + (out[name]["warmup_s"] if name == "torch.compile" else 0), 1),
            "cached_s": None if out[name]["cached_s"] is None else round(out[name]["cached_s"], 1),
            "psnr_db": psnr(eager, out[name]["output"].float()),
            "max_abs_diff": float((eager - out[name]["output"].float()).abs().max()),
            "versions": out[name]["versions"],
            "threads": torch.get_num_threads(),
        }
    return rows


# ---- parent ----


def machine() -> dict:
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {
        "cpu": flags,
        "cores": os.cpu_count(),
        "isa": [f for f in ("avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16") if f in cpuinfo],
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def table(rows: dict) -> str:
    head = f"{'backend':<20} {'s/call':>7} {'ratio':>6} {'speedup':>7} {'first s':>8} {'cached s':>8} {'PSNR dB':>8}"
    lines = [head, "-" * len(head)]

    def shown(value, form: str) -> str:
        if value is None:
            return "-"
        return "exact" if value == math.inf else format(value, form)

    for name, row in rows.items():
        lines.append(
            f"{name:<20} {shown(row.get('s_per_call'), '.2f'):>7} {shown(row.get('ratio_to_eager'), '.3f'):>6} "
            f"{shown(row.get('speedup'), '.2f'):>7} {shown(row.get('first_s'), '.1f'):>8} "
            f"{shown(row.get('cached_s'), '.1f'):>8} {shown(row.get('psnr_db'), '.1f'):>8}"
            + (f"  {row['error']}" if "error" in row else "")
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--groups", default="torch,openvino,onnxruntime,compile")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile-timeout", type=float, default=900)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "cpu-backends.json"))
    parser.add_argument("--keep", action="store_true", help="keep the rows of other groups already in --out")
    parser.add_argument("--ir", help="keep OpenVINO's converted UNet (IR) in this folder and reuse it if there")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--partial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        partial = Path(args.partial) if args.partial else None
        rows = run_group(args.child, args.tiny, args.rounds, partial, Path(args.ir) if args.ir else None)
        print("RESULT " + json.dumps(rows, default=str))
        return
    out = Path(args.out)
    report = {
        "what": "SD 1.5 UNet (random weights), one call at batch 2, 64x64 latents (512x512), CPU",
        "fidelity": "PSNR of the UNet output vs torch eager fp32 on the same inputs, peak = range of eager's output",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "rows": {},
    }
    if args.keep and out.exists():
        earlier = json.loads(out.read_text())
        report["earlier_runs"] = [
            *earlier.get("earlier_runs", []),
            {k: earlier[k] for k in ("when", "machine", "command")},
        ]
        wanted = set(args.groups.split(","))
        report["rows"] = {k: v for k, v in earlier["rows"].items() if v.get("group") not in wanted}
    for group in args.groups.split(","):
        partial = Path(tempfile.mkstemp(prefix="cpu-backends-", suffix=".json")[1])
        command = [sys.executable, __file__, "--child", group, "--rounds", str(args.rounds), "--partial", str(partial)]
        if args.tiny:
            command.append("--tiny")
        if args.ir:
            command += ["--ir", args.ir]
        limit = args.compile_timeout if group == "compile" else args.timeout
        began = time.perf_counter()
        try:
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=limit, check=False)
            results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if not results:
                raise RuntimeError(f"child exited {done.returncode} without a result")
            rows = json.loads(results[-1][len("RESULT ") :])
        except (subprocess.TimeoutExpired, RuntimeError) as error:
            text = f"stopped after {limit:.0f} s" if isinstance(error, subprocess.TimeoutExpired) else str(error)
            rows = json.loads(partial.read_text() or "{}")
            for name in GROUPS[group]:
                rows.setdefault(name, {"group": group})["error"] = text
        partial.unlink(missing_ok=True)
        key = f"eager ({group})"
        report["rows"][key] = rows.pop("eager", {"group": group, "error": "no baseline"})
        for name, row in rows.items():
            taken = name in report["rows"] and report["rows"][name].get("group") != group
            report["rows"][f"{name} ({group})" if taken else name] = row
        report["rows"][key]["group_wall_s"] = round(time.perf_counter() - began, 1)
        report["machine"]["load_average_at_end"] = os.getloadavg()
        if not args.tiny:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(table(report["rows"]), flush=True)


if __name__ == "__main__":
    main()
