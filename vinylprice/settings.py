"""One typed settings object, read from the environment (and an optional `.env` file)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable about vinylprice; every field maps to `VINYLPRICE_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="VINYLPRICE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    home: Path = Field(Path("var"), description="Data home: database, images, index builds.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in home.")
    backbone: str = Field("mobilenet_v2", description="Keras application used for embeddings.")
    weights: str = Field(
        "imagenet", description="'imagenet' (Keras download) or a path to a local weights file."
    )
    embedding_head: str | None = Field(
        None, description="Fine-tuned head: a version name under models_dir, or a path; unset = "
        "the backbone's own average pooling."
    )
    embed_batch_size: int = Field(32, ge=1)
    shortlist_k: int = Field(50, ge=1, description="Candidates taken from the vector index.")
    index_backend: str = Field("exact", description="'exact' (numpy) or 'faiss'.")
    currency: str = Field("USD", description="Currency prices are shown in.")
    base_currency: str = Field("USD", description="Currency pricing models work in.")
    currency_rates: dict[str, float] = Field(
        default_factory=lambda: {
            "USD": 1.0, "EUR": 1.08, "GBP": 1.26, "JPY": 0.0064, "CAD": 0.73, "AUD": 0.66
        },
        description="Value of one unit of each currency in base_currency (no network lookups).",
    )
    currency_rates_date: str = Field("2024-05-10", description="Date the rates table is from.")
    max_photo_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_photo_pixels: int = Field(150_000_000, ge=1)
    log_level: str = "INFO"

    telegram_bot_token: SecretStr | None = Field(None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = Field(
        "https://api.telegram.org", validation_alias="TELEGRAM_API_URL"
    )
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    bot_rate_limit: int = Field(8, ge=1, description="Photos one bot user may send per minute.")
    bot_workers: int = Field(2, ge=1, description="Threads the bot runs recognition on.")
    bot_webhook_url: str | None = Field(None, description="Public HTTPS URL; unset = polling.")
    bot_webhook_port: int = Field(8443, ge=1, le=65535, description="Port the webhook serves.")

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        # Stored image paths must not depend on the folder a command was started from.
        return value.expanduser().resolve()

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("currency", "base_currency", mode="before")
    @classmethod
    def _currency_code(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        code = value.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError(f"'{value}' is not a currency code; expected three letters, e.g. USD")
        return code

    @model_validator(mode="after")
    def _currencies_in_the_rates_table(self) -> Settings:
        # Checked here so that a wrong table stops every command at start, not a quote later.
        from vinylprice.pricing.currency import CurrencyError, Rates

        try:
            rates = Rates.from_settings(self)
            if self.base_currency not in {code.strip().upper() for code in self.currency_rates}:
                raise CurrencyError(f"the base currency {self.base_currency} is not in the rates "
                                    f"table (known: {', '.join(sorted(rates.rates))})")
            rates.from_base(1.0, self.currency)
        except CurrencyError as error:
            raise ValueError(f"VINYLPRICE_CURRENCY_RATES (with VINYLPRICE_BASE_CURRENCY and "
                             f"VINYLPRICE_CURRENCY): {error}") from error
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'vinylprice.db').resolve()}"

    @property
    def reference_dir(self) -> Path:
        return self.home / "images" / "references"

    @property
    def query_dir(self) -> Path:
        return self.home / "images" / "queries"

    @property
    def builds_dir(self) -> Path:
        return self.home / "builds"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword arguments win over it."""
    return Settings(**overrides)
