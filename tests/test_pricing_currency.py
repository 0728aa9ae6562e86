"""Currency conversion from the settings' rates table."""

from __future__ import annotations

import pytest

from vinylprice.cli.main import main
from vinylprice.pricing.currency import CurrencyError, Rates
from vinylprice.settings import Settings

TABLE = "VINYLPRICE_CURRENCY_RATES (with VINYLPRICE_BASE_CURRENCY and VINYLPRICE_CURRENCY)"


def test_amounts_convert_through_the_base_currency() -> None:
    rates = Rates("USD", {"EUR": 1.08, "GBP": 1.25, "JPY": 0.0064}, date="2024-05-10")

    assert rates.to_base(10.0, "EUR") == pytest.approx(10.8)
    assert rates.to_base(10.0, None) == 10.0
    assert rates.from_base(12.5, "GBP") == pytest.approx(10.0)
    assert rates.convert(1000.0, "JPY", "EUR") == pytest.approx(6.4 / 1.08)
    assert rates.convert(7.0, "usd", "USD") == 7.0


def test_an_unknown_currency_is_refused_with_the_known_ones() -> None:
    rates = Rates("USD", {"EUR": 1.08}, date="2024-05-10")

    assert not rates.knows("CHF")
    with pytest.raises(CurrencyError, match=r"CHF.*2024-05-10.*EUR, USD"):
        rates.to_base(5.0, "CHF")


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), float("inf")])
def test_a_rate_must_be_a_positive_number(rate: float) -> None:
    with pytest.raises(CurrencyError, match="positive"):
        Rates("USD", {"EUR": rate})


def test_the_settings_carry_a_dated_rates_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VINYLPRICE_BASE_CURRENCY", "EUR")
    monkeypatch.setenv("VINYLPRICE_CURRENCY_RATES", '{"EUR": 1, "USD": 0.92}')
    monkeypatch.setenv("VINYLPRICE_CURRENCY_RATES_DATE", "2024-06-01")

    rates = Rates.from_settings(Settings(_env_file=None))

    assert (rates.base, rates.date) == ("EUR", "2024-06-01")
    assert rates.to_base(100.0, "USD") == pytest.approx(92.0)


def test_the_default_rates_cover_the_display_currency() -> None:
    settings = Settings(_env_file=None)
    rates = Rates.from_settings(settings)

    assert rates.knows(settings.currency)
    assert rates.date == settings.currency_rates_date


def test_the_base_currency_must_be_worth_one_unit_of_itself() -> None:
    with pytest.raises(CurrencyError, match="base currency's own rate must be 1"):
        Rates("USD", {"USD": 2.0, "EUR": 1.08})


def test_a_rates_table_that_is_not_json_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VINYLPRICE_CURRENCY_RATES", "{USD:1")

    assert main(["db", "status"]) == 2

    error = capsys.readouterr().err
    assert "invalid setting: VINYLPRICE_CURRENCY_RATES could not be parsed: Expecting" in error
    assert len(error.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"VINYLPRICE_CURRENCY": "XYZ"}, f"{TABLE}: no exchange rate for XYZ"),
        ({"VINYLPRICE_BASE_CURRENCY": "EUR"}, f"{TABLE}: rate for EUR is 1.08"),
        ({"VINYLPRICE_BASE_CURRENCY": "XYZ"},
         f"{TABLE}: the base currency XYZ is not in the rates table"),
        ({"VINYLPRICE_CURRENCY_RATES": '{"USD": 1, "EUR": -1}'}, f"{TABLE}: rate for EUR is -1.0"),
        ({"VINYLPRICE_CURRENCY_RATES": '{"USD": 1, "EUR": 1e-310}'},
         f"{TABLE}: rate for EUR is 1e-310"),
        ({"VINYLPRICE_CURRENCY_RATES": '{"USD": 1, "EUR": 1e300}'},
         f"{TABLE}: rate for EUR is 1e+300"),
        ({"VINYLPRICE_CURRENCY": ""}, "VINYLPRICE_CURRENCY: '' is not a currency code"),
        ({"VINYLPRICE_BASE_CURRENCY": "dollar"}, "VINYLPRICE_BASE_CURRENCY: 'dollar' is not"),
    ],
)
def test_wrong_currency_settings_stop_every_command_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    variables: dict[str, str], expected: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    assert main(["db", "status"]) == 2

    error = capsys.readouterr().err
    assert error.startswith(f"vinylprice: invalid setting: {expected}")
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1


def test_currency_codes_are_trimmed_and_upper_cased(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VINYLPRICE_CURRENCY", " eur ")
    monkeypatch.setenv("VINYLPRICE_CURRENCY_RATES", '{"usd": 1, "eur": 1.08}')

    settings = Settings(_env_file=None)

    assert settings.currency == "EUR"
    assert Rates.from_settings(settings).to_base(10.0, "EUR") == pytest.approx(10.8)
