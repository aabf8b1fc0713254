"""Requests per second the OpenAI-compatible client sustains against the local test server, by concurrency.

    .venv/bin/python benchmarks/bench_openai_client.py [--delay 1.0] [--rounds 4] [--concurrency 1 8 32]

The server (tests/fake_openai.py, a threaded stdlib HTTP server on 127.0.0.1) holds every answer back by `--delay`
seconds, so it is the bottleneck: at concurrency c the ceiling is c / delay requests per second. Each level sends
`rounds * c` chat requests, each with one small PNG as a data URL, through `OpenAIChat.complete_many`, after a
warm-up round that opens the connections. The client spends tens of milliseconds of CPU per request (the SDK's
request building and response validation), so a short delay on a busy machine measures the CPU, not the client's
concurrency; the default delay keeps the server the bottleneck. Prints
requests/s, the ratio to concurrency 1 measured in the same run, and that ratio as a share of c (target >= 0.8).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=float, default=1.0, help="server-side seconds per answer")
    parser.add_argument("--rounds", type=int, default=4, help="requests per level = rounds x concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args(argv)

    from fake_openai import FakeOpenAI

    from vtl.vicl.clients.openai_chat import OpenAIChat

    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    rates: dict[int, float] = {}
    with FakeOpenAI(delay_s=args.delay) as server:
        for c in args.concurrency:
            client = OpenAIChat("bench", base_url=server.base_url, api_key_env=None, max_concurrency=c,
                                max_retries=0, timeout_s=30)
            client.complete_many([("warm up", [])] * c)  # opens the c connections before the clock starts
            n = max(args.rounds * c, 4)
            start = time.perf_counter()
            answers = client.complete_many([(f"request {i}", [image]) for i in range(n)])
            elapsed = time.perf_counter() - start
            failed = sum(not isinstance(a, str) for a in answers)
            rates[c] = n / elapsed
            print(f"concurrency {c:>3}: {n:>4} requests in {elapsed:6.2f} s = {rates[c]:7.1f} req/s "
                  f"(ceiling {c / args.delay:6.1f}){f', {failed} failed' if failed else ''}")
    base = rates[args.concurrency[0]]
    print(f"\nratio to concurrency {args.concurrency[0]} (target >= 0.8 x c):")
    for c, rate in rates.items():
        ratio = rate / base
        print(f"  c={c:>3}: {ratio:6.2f}x = {ratio / c:.2f} of c {'ok' if ratio >= 0.8 * c else 'BELOW TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
