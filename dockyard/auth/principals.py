"""Who is calling: the identity every authorization decision is about."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    user_id: str  # IAM-style unique id (aws:userid)
    user_name: str
    is_root: bool = False
    access_key_id: str | None = None

    @property
    def arn(self) -> str:
        if self.is_root:
            return f"arn:aws:iam::{self.account_id}:root"
        return f"arn:aws:iam::{self.account_id}:user/{self.user_name}"
