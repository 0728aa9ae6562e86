"""Currency conversion from a fixed rates table (configured in the settings, never fetched)."""

from __future__ import annotations

from dataclasses import dataclass, field

RATE_RANGE = (1e-6, 1e6)


class CurrencyError(ValueError):
    """A currency the rates table does not know, or a rate that is not a positive number."""


@dataclass(frozen=True)
class Rates:
    """`rates[code]` is the value of one unit of `code` in `base`; `date` says when it held."""

    base: str
    rates: dict[str, float] = field(default_factory=dict)
    date: str | None = None

    def __post_init__(self) -> None:
        normalised = {code.strip().upper(): float(rate) for code, rate in self.rates.items()}
        base = self.base.strip().upper()
        normalised.setdefault(base, 1.0)
        for code, rate in normalised.items():
            # Beyond this range quotes overflow or round to nothing in one currency or another.
            if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
                raise CurrencyError(f"rate for {code} is {rate}; expected a positive number "
                                    f"between {RATE_RANGE[0]:g} and {RATE_RANGE[1]:g}")
        if normalised[base] != 1.0:
            raise CurrencyError(f"rate for {base} is {normalised[base]}; the base currency's "
                                f"own rate must be 1 (rates are values in {base})")
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "rates", normalised)

    @classmethod
    def from_settings(cls, settings: object) -> Rates:
        """The table configured as `base_currency`, `currency_rates` and `currency_rates_date`."""
        return cls(
            base=getattr(settings, "base_currency", "USD"),
            rates=dict(getattr(settings, "currency_rates", {}) or {}),
            date=getattr(settings, "currency_rates_date", None),
        )

    def to_base(self, amount: float, currency: str | None) -> float:
        """`amount` of `currency` (None means the base currency) in the base currency."""
        return amount * self._rate(currency or self.base)

    def from_base(self, amount: float, currency: str) -> float:
        """`amount` of the base currency in `currency`."""
        return amount / self._rate(currency)

    def convert(self, amount: float, source: str, target: str) -> float:
        """`amount` of `source` in `target`."""
        return self.from_base(self.to_base(amount, source), target)

    def knows(self, currency: str | None) -> bool:
        return (currency or self.base).upper() in self.rates

    def _rate(self, currency: str) -> float:
        code = currency.upper()
        if code not in self.rates:
            dated = f" of {self.date}" if self.date else ""
            raise CurrencyError(
                f"no exchange rate for {code} in the rates table{dated}; known: "
                f"{', '.join(sorted(self.rates))} (set VINYLPRICE_CURRENCY_RATES)"
            )
        return self.rates[code]
