"""A fake kube-apiserver speaking the recorded list/watch protocol (see server.py)."""

from tests.fakeapi.server import KINDS, FakeApi, dumps, recordings_dir

__all__ = ["KINDS", "FakeApi", "dumps", "recordings_dir"]
