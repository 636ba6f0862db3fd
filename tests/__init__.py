"""Jobdock's tests: a package, so test modules are named by their path and share tests.support."""
