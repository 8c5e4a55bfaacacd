"""The statistics of SBC: ranks, test quantities, per-fit diagnostics and flags, calibration tests.
Plain functions of arrays and tables; plots only draw what they compute."""

ALPHA = 0.05
"""The verdict's level when a campaign does not set one (``sequential.alpha``): every test's default."""
