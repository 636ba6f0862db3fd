"""The profiles shipped with Jobdock: TOML package data, read by `profile_load`."""
