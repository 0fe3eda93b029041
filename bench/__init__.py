"""The kdns benchmark (issue 7): `python -m bench` measures kdns against knot and writes bench/RESULTS.md."""
