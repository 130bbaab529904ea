"""Spec → plain manifest dicts (pure; no engine, no cluster)."""
