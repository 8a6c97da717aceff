"""``client.account``: credits."""

from __future__ import annotations

from ..types.account import Balance
from ._base import Resource


class AccountResource(Resource):
    async def balance(self) -> Balance:
        """Monthly and package credits (``GET /account/balance``)."""
        response = await self._client._request("GET", "/account/balance")
        return Balance.model_validate(response.data)
