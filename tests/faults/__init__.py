"""The fault suite: the real CLI as a subprocess against the simulator, under hostile conditions."""
