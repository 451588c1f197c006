"""Bring legacy documents forward: named, versioned, pure steps chained per kind."""

from shadow_audit.upgrade.chain import (
    STEPS,
    DocumentUpgrade,
    describe_fix,
    unit_folder,
    upgrade_document,
)
from shadow_audit.upgrade.model import AssumedTimezone, Note, Step, StepContext, parse_timezone
from shadow_audit.upgrade.plan import (
    UpgradeOutcome,
    UpgradePlan,
    UpgradeReport,
    execute_upgrade,
    plan_upgrade,
    upgrade,
)
from shadow_audit.upgrade.render import render_upgrade

__all__ = [
    "STEPS",
    "AssumedTimezone",
    "DocumentUpgrade",
    "Note",
    "Step",
    "StepContext",
    "UpgradeOutcome",
    "UpgradePlan",
    "UpgradeReport",
    "describe_fix",
    "execute_upgrade",
    "parse_timezone",
    "plan_upgrade",
    "render_upgrade",
    "unit_folder",
    "upgrade",
    "upgrade_document",
]
