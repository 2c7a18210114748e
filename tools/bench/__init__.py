"""``trygg bench <part>``: benchmarks that print figures and one JSON line (cli.py dispatches)."""
