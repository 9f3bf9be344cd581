"""ECR action handlers, one module per area; importing a module registers its actions."""

from __future__ import annotations

import importlib
import pkgutil

from dockyard.ecr.actions.base import ACTIONS, Handler


def all_actions() -> dict[str, Handler]:
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
    return dict(ACTIONS)
