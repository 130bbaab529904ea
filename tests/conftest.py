"""Root test configuration: the embedded-cluster fixture is available to every test."""

pytest_plugins = ["harness.pytest_fixtures"]
