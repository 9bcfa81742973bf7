"""Side-by-side performance measurements for subgate: `python -m benchmarks --help`.

Each figure is measured against a reference run on the same machine in the same run
(a bare Starlette app for ingest, a plain arq worker running no-op jobs for delivery),
so the ratios stay meaningful on machines of any speed.
"""
