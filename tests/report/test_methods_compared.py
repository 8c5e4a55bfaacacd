"""The index page compares the methods fitted to one model: verdict, worst quantities, seconds per
fit, ESS per second, and a sentence saying which are calibrated and what each costs; names escaped."""

from sbc_helpers.report.analysis import methods_sentence
from sbc_helpers.report.pages import methods_compared


def verdict(unit, label, calibrated, seconds, ess_per_second, model="m<b>"):
    return {"unit": unit, "model": model, "method": label.split("-")[0], "method_label": label,
            "calibrated": calibrated, "verdict": "no evidence of miscalibration in 3 quantities" if calibrated
            else "miscalibrated: beta[x<1>]", "worst": ["beta[x<1>]", "sigma"], "fit_seconds": seconds,
            "ess_per_second": ess_per_second}


VERDICTS = [verdict("m-nuts", "nuts", True, 1.234, 812.0), verdict("m-advi", "advi", False, 0.5, None),
            verdict("m-nuts-numpyro", "nuts-numpyro", True, 2.0, 400.0),
            verdict("alone", "nuts", True, 1.0, 10.0, model="alone")]


def test_one_sentence_per_model_names_calibrated_methods_and_their_cost():
    line = methods_sentence("m", VERDICTS[:3])
    assert line == ("m: calibrated under nuts (1.23 s per fit), nuts-numpyro (2 s per fit); "
                    "not shown calibrated under advi (0.5 s per fit).")


def test_the_index_compares_only_models_with_several_methods_and_escapes_names():
    page = methods_compared(VERDICTS)
    assert page.count("<h3>") == 1 and "<h3>m&lt;b&gt;</h3>" in page and "<h3>alone" not in page
    assert "m<b>" not in page and "beta[x<1>]" not in page and "beta[x&lt;1&gt;], sigma" in page
    assert "<td>812</td>" in page and "<td>1.23</td>" in page
    assert methods_compared(VERDICTS[3:]) == ""
