"""Account balance (reference section 4.23)."""

from __future__ import annotations

from ._base import ResponseModel

__all__ = ["Balance"]


class Balance(ResponseModel):
    """``GET /account/balance``: monthly subscription credits and purchased credits."""

    account_id: int
    credit_monthly: int = 0
    """Subscription credits, reset monthly (spent first)."""
    credit_package: int = 0
    """Purchased credits."""

    @property
    def total(self) -> int:
        """Credits available in all: monthly plus package."""
        return self.credit_monthly + self.credit_package
