"""Designs for the gallery models, in their own column names."""

import numpy as np
import pandas as pd


def clinics():
    rng = np.random.default_rng(1)
    return pd.DataFrame({"dose": rng.uniform(0, 2, 12).round(2), "clinic": np.tile(["north", "south", "east"], 4)})


def households():
    return pd.DataFrame({"size": [1, 2, 2, 3, 4, 5, 1, 3]})


def trials():
    return pd.DataFrame({"trials": [5, 8, 10, 6, 9, 7]})


def days():
    return pd.DataFrame({"day": [f"d{i}" for i in range(10)], "temperature": np.linspace(12, 25, 10).round(1)})


def sites():
    return pd.DataFrame({"site": ["alpha", "beta", "gamma", "delta"]})


def farms():
    rng = np.random.default_rng(2)
    return pd.DataFrame({"yield_t": rng.normal(5, 1, 16).round(2), "rain_mm": rng.uniform(300, 700, 16).round(),
                         "farm": np.repeat(["f1", "f2", "f3", "f4"], 4)})


def years():
    return pd.DataFrame({"year": np.arange(1950, 1966)})


def animals():
    """Labels only: one id per row, nothing to plot."""
    return pd.DataFrame({"Tier": [f"a{i}" for i in range(12)]})


def assays():
    return pd.DataFrame({"Grenze (µg/L)": np.linspace(0.2, 1.4, 10).round(2)})


def students():
    rng = np.random.default_rng(3)
    return pd.DataFrame({"hours studied": rng.uniform(0, 10, 24).round(1), "school": np.tile(["north", "south", "east"], 8),
                         "passed": rng.integers(0, 2, 24)})


def schools():
    """A hundred schools of three students each, with their hours of study (radon's 85 counties,
    rounded up)."""
    rng = np.random.default_rng(4)
    return pd.DataFrame({"school": np.repeat([f"s{i:03d}" for i in range(100)], 3),
                         "hours": rng.uniform(0, 10, 300).round(1)})


def days_of_series():
    dates = pd.date_range("2024-03-04", periods=20)
    return pd.DataFrame({"day": dates.strftime("%Y-%m-%d"), "weekday": dates.day_name()})


def weeks():
    return pd.DataFrame({"week": np.arange(1, 11)})


def stations():
    return pd.DataFrame({"station": [f"s{i}" for i in range(12)], "km": np.linspace(0, 30, 12).round(1)})


def runners():
    return pd.DataFrame({"runner": [f"r{i}" for i in range(20)], "age": np.arange(20, 60, 2)})
