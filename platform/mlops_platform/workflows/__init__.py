"""Workflows that combine the engine, policy, ops and scaffold layers: the offline review and the
automation-API operations (preview/up/destroy) that are gated by it."""
