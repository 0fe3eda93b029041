"""kdns's reliability and security harness (issue 6).

`python -m chaos` runs every scenario at full size and regenerates docs/reliability.md;
`--quick` runs them small (about a minute or two in all), `--scenario NAME` runs one. The same
scenario functions run CI-sized in tests/reliability/, so CI and the long runs measure one thing.
"""
