"""The hostile-input suite (issue 3): every case is refused cleanly or renders harmless."""
