"""How fast the embedded model makes one picture, and where the time goes.

Times `Engine.run` for one 128 x 128 image at the model's default steps, guidance and
sampler (the median of several runs after warm-up), and splits each run into the UNet, the
text encoder, the VAE decode and everything else (scheduler, previews, conversions), by
timing the components' calls from outside: forward hooks on the UNet and the text encoder,
a timer around the VAE's decode. The engine itself is not touched.

Goals: under 1 s per image on a laptop CPU, with the UNet taking at least 85 % of it.
Run: python bench/embedded.py [--model embedded|FOLDER] [--runs 7] [--size 128]
     [--threads N] [--no-previews]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_SECONDS = 1.0
GOAL_UNET_SHARE = 0.85
PROMPT = "a sunset landscape with snowy hills, mountains, two pine trees, the sun on the left"


class ComponentTimers:
    """Seconds spent in each timed component since the last reset, and how many calls."""

    def __init__(self, pipe, device: str) -> None:
        import torch

        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        self.seconds = {"unet": 0.0, "text encoder": 0.0, "vae decode": 0.0}
        self.calls = dict.fromkeys(self.seconds, 0)
        self._sync = sync
        self._started: dict[str, float] = {}
        for name, module in (("unet", pipe.unet), ("text encoder", pipe.text_encoder)):
            module.register_forward_pre_hook(lambda *_, name=name: self._start(name))
            module.register_forward_hook(lambda *_, name=name: self._stop(name))
        decode = pipe.vae.decode

        def timed_decode(*args, **kwargs):
            self._start("vae decode")
            try:
                return decode(*args, **kwargs)
            finally:
                self._stop("vae decode")

        pipe.vae.decode = timed_decode

    def _start(self, name: str) -> None:
        self._sync()
        self._started[name] = time.perf_counter()

    def _stop(self, name: str) -> None:
        self._sync()
        self.seconds[name] += time.perf_counter() - self._started.pop(name)
        self.calls[name] += 1

    def reset(self) -> None:
        self.seconds = dict.fromkeys(self.seconds, 0.0)
        self.calls = dict.fromkeys(self.calls, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded", help='"embedded" or a model folder')
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-previews", action="store_true", help="run without step previews")
    args = parser.parse_args()

    import torch

    from studio.engine.events import Finished
    from studio.engine.runner import Engine

    if args.threads:  # the engine's own choice (studio.engine.threads) would override a plain set_num_threads
        os.environ["STUDIO_THREADS"] = str(args.threads)
    engine = Engine(device=args.device)
    model = engine.load(args.model)
    defaults = model.info.defaults
    request = defaults.request(args.model, prompt=PROMPT, seed=1, width=args.size, height=args.size)
    timers = ComponentTimers(model.pipe, model.device)

    def one_run() -> float:
        timers.reset()
        began = time.perf_counter()
        final = engine.run(request, previews=not args.no_previews)
        assert isinstance(final, Finished), final
        return time.perf_counter() - began

    for _ in range(args.warmup):
        one_run()
    totals, parts = [], {name: [] for name in timers.seconds}
    for _ in range(args.runs):
        totals.append(one_run())
        for name, seconds in timers.seconds.items():
            parts[name].append(seconds)
    calls = dict(timers.calls)

    median = statistics.median(totals)
    shares = {name: sum(values) / sum(totals) for name, values in parts.items()}
    shares["everything else"] = 1 - sum(shares.values())
    print(
        f"model: {model.info.name}  size: {args.size}x{args.size}  steps: {request.steps}  "
        f"cfg: {request.guidance_scale}  sampler: {request.scheduler}  device: {model.device}  "
        f"threads: {torch.get_num_threads()}  previews: {'off' if args.no_previews else 'on'}"
    )
    print(
        f"one image: median {median * 1000:.0f} ms over {args.runs} runs after {args.warmup} warm-up "
        f"(min {min(totals) * 1000:.0f}, max {max(totals) * 1000:.0f})   "
        f"goal < {GOAL_SECONDS * 1000:.0f} ms: {'met' if median < GOAL_SECONDS else 'NOT met'}"
    )
    for name, share in shares.items():
        count = f"  ({calls[name]} per image)" if name in calls else ""
        print(f"  {name:16s}{share * median * 1000:8.0f} ms {100 * share:6.1f} %{count}")
    unet = shares["unet"]
    print(
        f"UNet share {100 * unet:.1f} %   goal >= {100 * GOAL_UNET_SHARE:.0f} %: "
        f"{'met' if unet >= GOAL_UNET_SHARE else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
