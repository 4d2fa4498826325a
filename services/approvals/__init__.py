"""Approvals: the parent–child approval tree, signed decisions, and regulators' subscriptions."""
