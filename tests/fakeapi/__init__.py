"""A fake kube-apiserver speaking the recorded list/watch protocol (see server.py)."""

from tests.fakeapi.server import KINDS, RECORDINGS, FakeApi, dumps

__all__ = ["KINDS", "RECORDINGS", "FakeApi", "dumps"]
