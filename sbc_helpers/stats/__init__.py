"""The statistics of SBC: ranks, test quantities, per-fit diagnostics and flags, calibration tests.
Plain functions of arrays and tables; plots only draw what they compute."""
