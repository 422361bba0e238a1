"""Integration tests against a real FHIR server (a package, so its conftest does not shadow tests/conftest.py)."""
